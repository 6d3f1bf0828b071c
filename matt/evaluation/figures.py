"""Figures 5, 6 and 11 of the paper, as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from matt.core.files import atomic_path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: object, path: Path) -> None:
    try:
        with atomic_path(path, suffix=".png") as temporary:
            figure.savefig(temporary, dpi=130, bbox_inches="tight")  # type: ignore[attr-defined]
    finally:
        _pyplot().close(figure)  # type: ignore[arg-type]


def attack_progress(curves: Mapping[str, np.ndarray], offline: Mapping[str, Mapping[int, float]],
                    attack: str, path: Path) -> None:
    """Figure 5: robust accuracy against queries, one line per defense (online rule; the
    offline rule's values at the budgets as markers)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for defense, curve in curves.items():
        (line,) = axes.plot(np.arange(len(curve)), 100 * curve, label=defense, linewidth=1.6)
        points = offline.get(defense, {})
        if points:
            axes.plot(list(points), [100 * v for v in points.values()], "o",
                      color=line.get_color(), markersize=4)
    _robust_axes(axes, "queries", f"{attack}: attack progress (lines online, dots offline)")
    _save(figure, path)


def _robust_axes(axes: Any, xlabel: str, title: str) -> None:
    """Robust accuracy in % on the y axis, a grid, the legend outside on the right."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel("robust accuracy (%)")
    axes.set_ylim(-2, 102)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))


def robust_vs_pool(points: Sequence[Mapping[str, object]], budgets: Sequence[int],
                   attack: str, path: Path) -> None:
    """Figure 6: robust accuracy against the pool size K, one line per budget and rule."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    pools = [int(p["K"]) for p in points]  # type: ignore[call-overload]
    for budget in budgets:
        for rule, style in (("online", "-o"), ("offline", "--s")):
            values = [100 * p[rule][str(budget)] for p in points]  # type: ignore[index]
            axes.plot(pools, values, style, label=f"{budget} queries, {rule}", markersize=4)
    axes.set_xscale("log", base=2)
    axes.set_xticks(pools, [str(k) for k in pools])
    _robust_axes(axes, "number of purifiers K", f"MATT under {attack}: robust accuracy against K")
    _save(figure, path)


def clean_vs_patches(points: Sequence[Mapping[str, float]], undefended: float | None,
                     path: Path) -> None:
    """Figure 11: MATT's clean accuracy against the number of patches per image."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    counts = [int(p["patches"]) for p in points]
    accuracies = [100 * p["accuracy"] for p in points]
    axes.plot(counts, accuracies, "-o", label="MATT")
    if undefended is not None:
        axes.axhline(100 * undefended, color="grey", linestyle="--", label="undefended")
        accuracies.append(100 * undefended)
    axes.set_ylim(max(0.0, min(accuracies) - 10), 100.5)
    axes.set_xscale("log")
    axes.set_xticks(counts, [str(c) for c in counts])
    axes.set_xlabel("patches per image")
    axes.set_ylabel("clean accuracy (%)")
    axes.set_title("MATT: clean accuracy against the number of patches")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    _save(figure, path)
