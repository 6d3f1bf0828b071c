"""Writing a run's results: JSON (the record), Markdown (the tables), PNG (the plots).

Every file is written to a temporary name beside its target and renamed into place, so an
interrupted run never leaves half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matt.bench.plots import plot_latency_vs_k, plot_roofline
from matt.core.files import write_text_atomic


def _number(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _verdict(figure: dict[str, Any]) -> str:
    return {True: "pass", False: "**miss**", None: "not measured"}[figure["passed"]]


def figures_markdown(result: dict[str, Any]) -> str:
    """The headline ratios, one line per figure: ready for the README."""
    lines = ["| figure | table | value | target | verdict |", "| --- | --- | --- | --- | --- |"]
    for figure in result["figures"]:
        value = "—" if figure["value"] is None else f"{figure['value']:.3g}"
        lines.append(f"| {figure['title']} | {figure['table']} | {value} | {figure['target']} "
                     f"| {_verdict(figure)} |")
    return "\n".join(lines) + "\n"


def diagnostics_markdown(result: dict[str, Any]) -> str:
    """Ratios that explain the figures, without a verdict."""
    lines = ["| diagnostic | table | value |", "| --- | --- | --- |"]
    for entry in result.get("diagnostics", []):
        value = "—" if entry["value"] is None else f"{entry['value']:.3g}"
        lines.append(f"| {entry['title']} | {entry['table']} | {value} |")
    return "\n".join(lines) + "\n"


def table_markdown(table: dict[str, Any]) -> str:
    rounds = table["rounds"]
    lines = [f"### batch {table['batch']}, {table['size']}×{table['size']}", "",
             f"{rounds['timed']} timed rounds after {rounds['warmup']} warm-up "
             f"(asked {rounds['asked']['timed']} + {rounds['asked']['warmup']}"
             f"{', cut by the table budget' if rounds['budget_limited'] else ''}); "
             f"{rounds['wall_s']} s; other processes took "
             f"{table['other_processes_cores']} cores on average.", "",
             "| row | median ms | p99 ms | images/s | GFLOP/s |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, row in sorted(table["rows"].items(), key=lambda item: item[1]["median_ms"]):
        lines.append(f"| {name} | {_number(row['median_ms'], 3)} | {_number(row['p99_ms'], 3)} "
                     f"| {_number(row.get('images_per_s'), 1)} "
                     f"| {_number(row.get('achieved_gflops'), 1)} |")
    if table["skipped"]:
        lines += ["", "Not timed:", ""]
        lines += [f"- `{name}`: {' '.join(reason.split())}"
                  for name, reason in sorted(table["skipped"].items())]
    return "\n".join(lines) + "\n"


def subject_text(subject: dict[str, Any]) -> str:
    """What was timed: the bundle (and the weights it came from), or the weights."""
    members = f"{subject.get('trained_members')} trained members"
    if subject.get("bundle"):
        return (f"bundle {subject['bundle']} (runtime rows; exported from "
                f"{subject.get('weights')}, whose {members} are the torch rows)")
    return f"{subject.get('weights')}, {members}"


def subject_label(subject: dict[str, Any]) -> str:
    """A short name for file names: the bundle folder's, the weights file's, or stand-in."""
    if subject.get("bundle"):
        return Path(subject["bundle"]).name
    weights = subject.get("weights") or ""
    return Path(weights).stem if weights.endswith(".pt") else "stand-in"


def default_stem(result: dict[str, Any]) -> str:
    """``<command>-<subject>``, e.g. ``latency-cifar10``: file names that say what was timed."""
    return f"{result['run']['spec']['command']}-{subject_label(result['subject'])}"


def console_text(result: dict[str, Any]) -> str:
    """What the terminal shows: the subject, the verdicts, each table's rows, the load."""
    counts = result["verdicts"]
    parts = [f"matt-bench {result['run']['spec']['command']}: "
             f"{subject_text(result['subject'])}", "",
             figures_markdown(result),
             f"figures: {counts['passed']} pass, {counts['missed']} miss, "
             f"{counts['not_measured']} not measured; {result['run']['load']['note']}", ""]
    parts += [table_markdown(table) for table in result["tables"].values()]
    return "\n".join(parts)


def results_markdown(result: dict[str, Any]) -> str:
    run, machine, load = result["run"], result["machine"], result["run"]["load"]
    counts = result["verdicts"]
    header = [
        f"# matt-bench: {run['spec']['command']}", "",
        f"`{run['command_line']}`", "",
        f"- machine: {machine['cpu_model']}, {machine['cpus_usable']} usable CPUs, "
        f"{machine['threads']} threads; GPU: "
        f"{machine['gpu'].get('name') or machine['gpu'].get('reason')}",
        f"- git {run['git']['revision']}{' (uncommitted changes)' if run['git']['dirty'] else ''}"
        f", started {run['started']}",
        f"- load average at the start {load['load_average_start']}: {load['note']}",
        f"- subject: {subject_text(result['subject'])}",
        f"- figures: {counts['passed']} pass, {counts['missed']} miss, "
        f"{counts['not_measured']} not measured", "",
        "## Figures", "", figures_markdown(result), "## Diagnostics", "",
        diagnostics_markdown(result), "## Tables", "",
    ]
    return "\n".join(header) + "\n".join(table_markdown(t) for t in result["tables"].values())


PLOTS = ((plot_latency_vs_k, "ms-vs-k"), (plot_roofline, "gflops-vs-sgemm"))


def write_results(result: dict[str, Any], out_dir: Path, name: str | None = None) -> list[Path]:
    """Write ``<name>.json``, ``<name>.md`` and the plots (``<name>-ms-vs-k.png``,
    ``<name>-gflops-vs-sgemm.png``) into ``out_dir``; ``name`` defaults to
    :func:`default_stem`. Returns the paths."""
    name = name or default_stem(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, allow_nan=False) + "\n"
    written = [write_text_atomic(out_dir / f"{name}.json", text),
               write_text_atomic(out_dir / f"{name}.md", results_markdown(result))]
    for plot, suffix in PLOTS:
        path = plot(result, out_dir / f"{name}-{suffix}.png")
        if path is not None:
            written.append(path)
    return written
