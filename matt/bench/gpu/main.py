"""The GPU run end to end: check the device, run the gpu tests, time every table inside its
share of the budget, write the record. :func:`main` is the command line."""

from __future__ import annotations

import datetime
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from matt.bench.gpu.clock import Budget, Timer
from matt.bench.gpu.spec import REPORT_RESERVE_S, TEST_SHARE, GpuSpec, build_parser, spec_from_args
from matt.errors import BackendUnavailable, MattError

STARTED = time.monotonic()  # the budget counts from here: the process has just started
SCHEMA = "matt-bench-gpu/1"
PROG = "python -m matt.bench.gpu"


def require_device(spec: GpuSpec) -> None:
    """Refuse, in one line, a run whose device this machine does not have."""
    try:
        import torch
    except ImportError:
        raise BackendUnavailable("torch is not installed; the GPU bench needs torch with "
                                 "CUDA") from None
    if not spec.cuda:
        return
    if not torch.cuda.is_available():
        raise BackendUnavailable(
            f"no CUDA device: torch {torch.__version__} (CUDA build "
            f"{torch.version.cuda or 'none'}) sees none; run this on a CUDA machine, or use "
            "--dry-run (or --device cpu) for the flow on the CPU")
    index = int(spec.torch_device.split(":")[1])
    if index >= torch.cuda.device_count():
        raise BackendUnavailable(f"{spec.torch_device} does not exist: torch sees "
                                 f"{torch.cuda.device_count()} CUDA device(s)")


def run(spec: GpuSpec, output: Path, name: str, command_line: str, dry_run: bool,
        quiet: bool = False, started_at: float | None = None) -> list[Path]:
    """One run of ``spec``; returns the JSON and Markdown paths it wrote. The budget counts
    from ``started_at`` (``time.monotonic``; default: when this module was imported)."""
    import torch

    from matt.bench.gpu.gpu_tests import run_gpu_tests
    from matt.bench.gpu.report import machine_record, write_record
    from matt.bench.gpu.tables import Models, build_rows, table_figures, time_table
    from matt.bench.subjects import load_subject

    def log(line: str) -> None:
        if not quiet:
            print(f"[{budget.elapsed():6.1f} s] {line}", file=sys.stderr, flush=True)

    budget = Budget(spec.budget_s, STARTED if started_at is None else started_at)
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    repo = Path(__file__).resolve().parents[3]
    tests_s = min(TEST_SHARE * spec.budget_s, budget.remaining() - REPORT_RESERVE_S)
    log(f"gpu tests ({spec.tests}), at most {tests_s:.0f} s")
    tests = run_gpu_tests(spec.tests, repo, tests_s)
    log(f"gpu tests: {_tests_line(tests)}")
    subject = load_subject(spec.weights, max(spec.ks))
    models = Models(spec, subject)
    timer = Timer(spec.cuda)
    tables: dict[str, dict[str, Any]] = {}
    try:
        for index, (size, batch) in enumerate(spec.tables):
            share = budget.share(len(spec.tables) - index, REPORT_RESERVE_S)
            key = f"batch{batch}-{size}x{size}"
            log(f"table {key}: share {share:.0f} s")
            table = time_table(build_rows(spec, models, size, batch), spec, timer,
                               time.monotonic() + share, log)
            top = models.built(size, max(spec.ks))
            tables[key] = {"name": key, "size": size, "batch": batch, "share_s": round(share, 1),
                           **table, "figures": table_figures(table["rows"], spec),
                           "engines": top.describe() if top is not None else None,
                           "classifier": models.classifier_notes.get(
                               size, f"the subject's {subject.weights.classifier_spec.arch}")}
            if index + 1 == len(spec.tables) or spec.tables[index + 1][0] != size:
                models.release(size)
    finally:
        models.close()
    result = {
        "schema": SCHEMA,
        "run": {"command_line": command_line, "python": sys.executable, "started": started,
                "git": _git(repo), "dry_run": dry_run, "budget_s": spec.budget_s,
                "wall_s": round(budget.elapsed(), 1), "spec": spec.to_dict()},
        "machine": machine_record(spec.torch_device),
        "subject": {**subject.source, "tiling": {"patch": subject.weights.tiling.patch,
                                                 "halo": subject.weights.tiling.halo,
                                                 "native_size": subject.native_size}},
        "method": {
            "timer": f"{timer.name} around each call" + (
                " (start and end recorded on the current stream; every row returns its output "
                "to the host, so they span the copies and every engine's stream), host "
                "perf_counter beside it" if spec.cuda else ""),
            "rounds": "every row of a table once per round, start rotated each round; first "
                      "call untimed, then warm-up rounds, then timed rounds",
            "statistics": "median and interquartile range (p25-p75) over timed rounds",
            "budget": "each table gets an equal share of what is left of the run's budget; "
                      "it stops before a round that would end after its share and says so",
            "rows": "host float32 NCHW in, host output back: MATT and the classifier through "
                    "matt.runtime.Pipeline (torch engine), DISCO official (random weights in "
                    "its official shape) through torch on the same device",
        },
        "gpu_tests": tests,
        "tables": tables,
    }
    paths = write_record(result, output, name)
    log(f"done in {budget.elapsed():.0f} s of {spec.budget_s:g}")
    return paths


def _git(repo: Path) -> dict[str, Any]:
    """The checkout's revision; where git or ``.git`` is missing (a copied working tree on a
    lent machine), the one the caller put in ``MATT_GIT_REVISION``."""
    from matt.bench.machine import git_state

    state = git_state(repo)
    given = os.environ.get("MATT_GIT_REVISION", "").strip()
    if state["revision"] == "unknown" and given:
        return {"revision": given, "dirty": None, "source": "MATT_GIT_REVISION"}
    return state


def _tests_line(tests: dict[str, Any]) -> str:
    if not tests.get("ran"):
        return f"not run ({tests.get('reason')})"
    if tests["mode"] == "collect":
        return f"{len(tests['collected'])} collected (not run)"
    counts = ", ".join(f"{count} {state}" for state, count in tests["counts"].items())
    return f"{counts}; exit {tests['exit_code']}" + (f"; {tests['reason']}"
                                                     if tests.get("reason") else "")


def summary(paths: list[Path]) -> list[str]:
    """A few lines for stdout: the tests, then per table the headline medians and ratios."""
    import json

    result = json.loads(paths[0].read_text())
    top = max(result["run"]["spec"]["ks"])
    lines = [f"gpu tests: {_tests_line(result['gpu_tests'])}"]
    for table in result["tables"].values():
        headline = {"classifier", "matt/K=1", f"matt/K={top}", "disco/K=1"}
        medians = ", ".join(f"{label} {row['median_ms']:.3f} ms" for label, row in
                            table["rows"].items() if label in headline and "median_ms" in row)
        figures = ", ".join(f"{name} {value:.2f}" for name, value in table["figures"].items()
                            if value is not None)
        lines.append(f"{table['name']}: {medians}; {figures}; {table['rounds']['note']}")
    return [*lines, *(f"wrote {path}" for path in paths)]


def main(argv: list[str] | None = None, prog: str = PROG) -> None:
    """The command line: options as ``-h`` lists them; an error is one line, exit 2."""
    args = build_parser(prog).parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    try:
        spec = spec_from_args(args)
        require_device(spec)
        paths = run(spec, args.output, args.name, shlex.join([*prog.split(), *given]),
                    args.dry_run, args.quiet)
    except MattError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    print("\n".join(summary(paths)))
