"""Writing a tiling sweep: JSON (the record), Markdown (a table per patch size), PNG (two panels).

The plot is drawn and every text rendered before the first file is renamed into place, so a
failure leaves no partial set of files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matt.bench.plots import plt, run_footer, save_figure
from matt.bench.tiling import CHOICE_MEAN_DIFF, GREY_LEVEL
from matt.core.files import write_text_atomic


def _by_patch(result: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in result["rows"]:
        grouped.setdefault(row["patch"], []).append(row)
    return {patch: sorted(rows, key=lambda r: r["halo"]) for patch, rows in sorted(grouped.items())}


def _halo_cell(row: dict[str, Any]) -> str:
    marks = [mark for mark, on in (("exact", row["exact"]), ("**default**", row["default"])) if on]
    return f"{row['halo']} ({', '.join(marks)})" if marks else str(row["halo"])


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """One patch size: a line per halo, exact and default marked."""
    first = rows[0]
    lines = [f"### patch {first['patch']}: {first['windows_per_image']} windows per image", "",
             "| halo | window | pixels / image pixel | purifier ms / image | relative cost "
             "| × cheaper | max abs diff | mean abs diff | > 1 grey level | clean accuracy |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(
            f"| {_halo_cell(row)} | {row['window'][0]}×{row['window'][1]} "
            f"| {row['pixel_ratio']:.2f} | {row['purify_ms_per_image']:.2f} "
            f"| {row['relative_cost']:.3f} "
            f"| {1 / row['relative_cost']:.1f} | {row['max_abs_diff']:.2g} "
            f"| {row['mean_abs_diff']:.2g} | {100 * row['share_over_grey_level']:.3g} % "
            f"| {row['accuracy']:.4f} |")
    return "\n".join(lines) + "\n"


def results_markdown(result: dict[str, Any]) -> str:
    run, machine, subject = result["run"], result["machine"], result["subject"]
    default = subject["default_tiling"]
    chosen = result["smallest_halo"]["per_patch"]
    choice = "; ".join(f"patch {patch}: halo {entry['halo']} "
                       f"({1 / entry['relative_cost']:.1f}× cheaper, accuracy "
                       f"{entry['accuracy']:.4f})" for patch, entry in chosen.items()) or "none"
    lines = [
        f"# matt-bench tiling: {subject['dataset']}", "",
        f"`{run['command_line']}`", "",
        f"- machine: {machine['cpu_model']}, {machine['cpus_usable']} usable CPUs, "
        f"{machine['threads']} threads; {run['load']['note']} (other processes took "
        f"{run['load']['other_processes_cores']} cores on average)",
        f"- git {run['git']['revision']}{' (uncommitted changes)' if run['git']['dirty'] else ''}"
        f", started {run['started']}",
        f"- weights: {subject['weights']} (sha256 {subject['sha256'][:16]}…), pool of "
        f"{subject['pool_size']}, receptive radius {subject['receptive_radius']} (the exact "
        f"halo); default tiling patch {default['patch']}, halo {default['halo']}",
        f"- images: {result['images']['source']}",
        f"- smallest halo with mean abs diff < {CHOICE_MEAN_DIFF:g}: {choice}", "",
        "Relative cost: purifier time over the exact halo's at the same patch size, timed "
        "round-robin per batch (torch on the CPU). Diffs: |purified − exact purified| with the "
        "same seed (the same purifier per patch), on the [0, 1] scale; one grey level is "
        f"{GREY_LEVEL:.4f}.",
        "",
    ]
    return ("\n".join(lines) + "\n" + choice_markdown(result)
            + "\n".join(table_markdown(rows) + "\n" for rows in _by_patch(result).values()))


def choice_markdown(result: dict[str, Any]) -> str:
    """The plan chosen under the fidelity bound, and the frontier (absent in older records)."""
    if "choice" not in result:
        return ""
    choice, default = result["choice"], result["subject"]["default_tiling"]
    chosen = choice["chosen"]
    intervals = "; ".join(
        f"patch {patch}: {ref['accuracy']:.4f} [{ref['accuracy_interval'][0]:.4f}, "
        f"{ref['accuracy_interval'][1]:.4f}]" for patch, ref in choice["reference"].items())
    lines = ["## The plan chosen by measurement", "",
             f"Bound: mean |diff| from the exact tiling <= {choice['bound']:g} and clean "
             f"accuracy inside the 95 % interval of the exact tiling at the same patch "
             f"({intervals}); {choice['passing']} rows pass.", ""]
    if chosen is None:
        lines.append("No row passes the bound.")
    else:
        lines.append(
            f"Chosen: **patch {chosen['patch']}, halo {chosen['halo']}**: "
            f"{chosen['macs_per_image_pixel'] / 1e3:.1f} k MACs per image pixel "
            f"({chosen['pixel_ratio']:.2f} pixels processed per pixel), "
            f"{chosen['purify_ms_per_image']:.2f} ms per image, mean |diff| "
            f"{chosen['mean_abs_diff']:.2g}, accuracy {chosen['accuracy']:.4f}; the default is "
            f"patch {default['patch']}, halo {default['halo']}.")
    lines += ["", "Frontier (no other row has both fewer MACs per pixel and a smaller mean "
              "|diff|):", "", "| patch | halo | k MACs / image pixel | ms / image | mean abs "
              "diff | clean accuracy |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {row['patch']} | {row['halo']} | {row['macs_per_image_pixel'] / 1e3:.1f} | "
              f"{row['purify_ms_per_image']:.2f} | {row['mean_abs_diff']:.2g} | "
              f"{row['accuracy']:.4f} |" for row in result["frontier"]]
    return "\n".join(lines) + "\n\n"


def plot_tiling(result: dict[str, Any]) -> Any:
    """Left: mean and max |diff| against the halo (log); right: relative cost and pixels."""
    figure, (diff_axis, cost_axis) = plt.subplots(1, 2, figsize=(12, 4.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (patch, rows) in enumerate(_by_patch(result).items()):
        colour = colours[index % len(colours)]
        nonzero = [r for r in rows if r["max_abs_diff"] > 0]
        for key, style, what in (("mean_abs_diff", "-", "mean"), ("max_abs_diff", "--", "max")):
            points = [r for r in nonzero if r[key] > 0]
            diff_axis.plot([r["halo"] for r in points], [r[key] for r in points], style,
                           marker="o", markersize=4, color=colour,
                           label=f"patch {patch}, {what} abs diff")
        cost_axis.plot([r["halo"] for r in rows], [r["relative_cost"] for r in rows], "-",
                       marker="o", markersize=4, color=colour,
                       label=f"patch {patch}, measured time")
        cost_axis.plot([r["halo"] for r in rows], [r["relative_pixels"] for r in rows], ":",
                       color=colour, label=f"patch {patch}, pixels processed")
        for row in rows:
            if row["default"]:
                cost_axis.plot([row["halo"]], [row["relative_cost"]], "*", markersize=14,
                               color=colour, label="the weights' default")
                if row["mean_abs_diff"] > 0:
                    diff_axis.plot([row["halo"]], [row["mean_abs_diff"]], "*", markersize=14,
                                   color=colour, label="the weights' default")
    diff_axis.axhline(GREY_LEVEL, color="grey", linewidth=0.8, linestyle="-.",
                      label="one grey level (1/255)")
    diff_axis.axhline(CHOICE_MEAN_DIFF, color="black", linewidth=0.8, linestyle=":",
                      label=f"mean diff {CHOICE_MEAN_DIFF:g} (the shipped rule)")
    diff_axis.set_yscale("log")
    diff_axis.set_ylabel("|purified − exact purified|, [0, 1] scale")
    diff_axis.set_title("What the halo changes (zero diffs: not drawn on the log axis)")
    cost_axis.set_ylabel("purifier cost relative to the exact halo")
    cost_axis.set_title("What the halo costs")
    cost_axis.set_ylim(bottom=0)
    radius = result["subject"]["receptive_radius"]
    for axis in (diff_axis, cost_axis):
        axis.axvline(radius, color="grey", linewidth=0.6)
        axis.set_xlabel(f"halo, pixels (receptive radius {radius} = exact)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(f"Tiling on {result['subject']['dataset']}: "
                    f"{result['images']['count']} clean images")
    figure.text(0.01, 0.01, run_footer(result), fontsize=7, color="dimgrey")
    figure.tight_layout(rect=(0, 0.03, 1, 0.95))
    return figure


def write_tiling(result: dict[str, Any], out_dir: Path, name: str) -> list[Path]:
    """Write ``<name>.json``, ``<name>.md`` and ``<name>.png`` into ``out_dir``."""
    text = json.dumps(result, indent=2, allow_nan=False) + "\n"
    markdown = results_markdown(result)
    figure = plot_tiling(result)
    return [save_figure(figure, out_dir / f"{name}.png"),
            write_text_atomic(out_dir / f"{name}.json", text),
            write_text_atomic(out_dir / f"{name}.md", markdown)]
