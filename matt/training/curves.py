"""The held-out loss of every member against its steps: where each one reached its plateau."""

from __future__ import annotations

import json
from pathlib import Path

from matt.core.files import atomic_path
from matt.errors import InputError


def read_curves(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """(step, held-out loss) per member, from ``members/<name>/metrics.jsonl``."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for log in sorted(run_dir.glob("members/*/metrics.jsonl")):
        points = []
        for line in log.read_text().splitlines():
            record = json.loads(line)
            if "held_out_loss" in record:
                points.append((int(record["step"]), float(record["held_out_loss"])))
        if points:
            curves[log.parent.name] = points
    if not curves:
        raise InputError(f"{run_dir} has no member with a held-out loss log "
                         "(members/*/metrics.jsonl); run matt-train pool first")
    return curves


def plot_curves(curves: dict[str, list[tuple[int, float]]], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for name, points in curves.items():
        steps, losses = zip(*points, strict=True)
        axes.plot(steps, losses, marker=".", label=name)
    axes.set_xlabel("training step")
    axes.set_ylabel("held-out loss (Eq. 2)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=110)
    plt.close(figure)
    return path
