"""Plots for the README: latency against K (MATT flat, DISCO rising) and the roofline bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from matt.core.files import atomic_path

SERIES_STYLE = {
    "matt/torch-fp32": ("MATT, torch eager", "tab:blue", "-"),
    "matt/onnxruntime-fp32": ("MATT, ONNX Runtime FP32", "tab:green", "-"),
    "matt/onnxruntime-int8": ("MATT, ONNX Runtime INT8", "tab:olive", "-"),
    "matt/tensorrt-fp16": ("MATT, TensorRT FP16", "tab:purple", "-"),
    "matt/tensorrt-int8": ("MATT, TensorRT INT8", "tab:pink", "-"),
    "matt/torch-cuda-fp32": ("MATT, torch CUDA", "tab:cyan", "-"),
    "disco-ensemble/torch-fp32": ("DISCO ensemble (official LIIF), torch", "tab:red", "--"),
    "matt-disco-encoder/torch-fp32": ("MATT with DISCO's encoder, torch", "tab:orange", ":"),
}

SINGLE_POINTS = {
    "liif-no-local-ensemble": ("DISCO LIIF without local ensemble", "tab:red", "x"),
    "disco-encoder-whole": ("DISCO's encoder fully convolutional, whole image", "tab:orange", "s"),
}


def _series(table: dict[str, Any]) -> dict[str, list[tuple[int, float, float]]]:
    """Rows grouped by family/backend-precision: (K, median ms, p99 ms), sorted by K."""
    grouped: dict[str, list[tuple[int, float, float]]] = {}
    for row_label, row in table["rows"].items():
        if row.get("k") is None or row.get("family") in SINGLE_POINTS:
            continue
        name = row_label.rsplit("/", 1)[0]
        grouped.setdefault(name, []).append((row["k"], row["median_ms"], row["p99_ms"]))
    return {name: sorted(points) for name, points in grouped.items()}


def run_footer(result: dict[str, Any]) -> str:
    """One grey line under a plot: machine, threads, revision, time, how busy it was."""
    machine, run = result["machine"], result["run"]
    load = run["load"]
    state = "quiet machine" if load["quiet"] else "BUSY machine: noisy figures"
    return (f"{machine['cpu_model']}, {machine['threads']} threads; "
            f"git {run['git']['revision'][:10]}; {run['started']}; {state} "
            f"(load {load['load_average_start'][:1]})")


def save_figure(figure: Any, path: Path) -> Path:
    """Write ``figure`` as a PNG atomically and close it."""
    try:
        with atomic_path(path, suffix=".png") as temporary:
            figure.savefig(temporary, dpi=120, format="png")
    finally:
        plt.close(figure)
    return path


def plot_latency_vs_k(result: dict[str, Any], path: Path) -> Path | None:
    """One panel per table: median latency against K, whiskers to p99, classifier as a line."""
    tables = [t for t in result["tables"].values()
              if any(len(points) > 1 for points in _series(t).values())]
    if not tables:
        return None
    figure, axes = plt.subplots(1, len(tables), figsize=(6.2 * len(tables), 4.8), squeeze=False)
    for axis, table in zip(axes[0], tables, strict=True):
        for name, points in _series(table).items():
            text, colour, style = SERIES_STYLE.get(name, (name, None, "-"))
            ks = [k for k, _, _ in points]
            medians = [m for _, m, _ in points]
            spread = [[0.0] * len(points), [p - m for _, m, p in points]]
            axis.errorbar(ks, medians, yerr=spread, label=text, color=colour, linestyle=style,
                          marker="o", markersize=4, capsize=2)
        for row in table["rows"].values():
            if row.get("family") == "classifier":
                axis.axhline(row["median_ms"], color="grey", linewidth=0.8, linestyle="-.")
                axis.annotate(f"classifier alone ({row['backend']})", (1, row["median_ms"]),
                              fontsize=7, color="grey", va="bottom")
            elif row.get("family") in SINGLE_POINTS:
                text, colour, marker = SINGLE_POINTS[row["family"]]
                axis.plot([1], [row["median_ms"]], marker=marker, color=colour, linestyle="none",
                          label=text)
        axis.set_yscale("log")
        axis.set_xticks(sorted({row["k"] for row in table["rows"].values() if row.get("k")}))
        axis.set_xlabel("pool size K")
        axis.set_ylabel("latency per call, ms (median; whisker to p99)")
        axis.set_title(f"batch {table['batch']}, {table['size']}×{table['size']}, "
                       f"{table['rounds']['timed']} timed rounds")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle("Purification cost against the pool size K (purifier only)")
    figure.text(0.01, 0.01, run_footer(result), fontsize=7, color="dimgrey")
    figure.tight_layout(rect=(0, 0.03, 1, 0.96))
    return save_figure(figure, path)


def plot_roofline(result: dict[str, Any], path: Path) -> Path | None:
    """Achieved GFLOP/s of each purifier row against the SGEMM peak measured in the same run."""
    panels = []
    for table in result["tables"].values():
        peaks = [r["achieved_gflops"] for r in table["rows"].values() if r["family"] == "sgemm"]
        bars = [(name, r["achieved_gflops"]) for name, r in table["rows"].items()
                if r["family"] == "matt" and r.get("achieved_gflops")
                and r.get("precision") != "int8"]
        if peaks and bars:
            panels.append((table, max(peaks), bars))
    if not panels:
        return None
    figure, axes = plt.subplots(len(panels), 1, figsize=(8, 1.2 + 0.35 * max(
        len(b) for _, _, b in panels) * len(panels)), squeeze=False)
    for axis, (table, peak, bars) in zip(axes[:, 0], panels, strict=True):
        names = [name for name, _ in bars]
        axis.barh(names, [value for _, value in bars], color="tab:green")
        axis.axvline(peak, color="black", label=f"SGEMM peak {peak:.1f} GFLOP/s")
        axis.axvline(0.4 * peak, color="black", linestyle="--", label="40 % of peak")
        axis.set_xlabel("achieved GFLOP/s (2 × MACs per pixel × pixels incl. halos / median)")
        axis.set_title(f"batch {table['batch']}, {table['size']}×{table['size']}")
        axis.tick_params(axis="y", labelsize=7)
        axis.legend(fontsize=7)
    figure.text(0.01, 0.005, run_footer(result), fontsize=7, color="dimgrey")
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    return save_figure(figure, path)
