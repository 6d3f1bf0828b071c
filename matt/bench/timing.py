"""Round-robin timing: every row of a table is timed in the same rounds, so noise hits all alike.

A table is timed in rounds; each round calls every row once, starting one row further along
each time, so no row always follows the same neighbour. The first rounds are warm-up (the paper
times the last 900 of 1000 iterations). When a whole round costs more than the table's budget
allows, fewer rounds are run — the same number for every row, with the same warm-up share — and
the result says so.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from matt.bench.machine import ForeignLoad


@dataclass
class TimedRow:
    """Something to time: ``call`` runs once; ``info`` is recorded beside its figures."""

    label: str
    call: Callable[[], object]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RoundPlan:
    """How many rounds a table gets: the asked-for counts, or what the budget affords."""

    warmup: int
    timed: int
    budget_limited: bool
    probe_round_s: float


def latency_stats(samples_ns: Sequence[int]) -> dict[str, float | int]:
    """Median, p99, mean, min and max in milliseconds, and the sample count."""
    values = np.asarray(samples_ns, dtype=np.float64) / 1e6
    return {
        "n": int(values.size),
        "median_ms": float(np.median(values)),
        "p99_ms": float(np.percentile(values, 99)),
        "mean_ms": float(values.mean()),
        "min_ms": float(values.min()),
        "max_ms": float(values.max()),
    }


def plan_rounds(probe_round_s: float, iterations: int, warmup: int,
                budget_s: float) -> RoundPlan:
    """Rounds to run: all asked for if they fit ``budget_s``, else fewer (at least 1 + 1)."""
    wanted = iterations + warmup
    affordable = math.floor(budget_s / probe_round_s) if probe_round_s > 0 else wanted
    if affordable >= wanted:
        return RoundPlan(warmup, iterations, False, probe_round_s)
    total = max(2, affordable)
    warm = max(1, round(total * warmup / wanted)) if warmup else 0
    return RoundPlan(warm, max(1, total - warm), True, probe_round_s)


def _call_once(row: TimedRow) -> int:
    start = time.perf_counter_ns()
    row.call()
    return time.perf_counter_ns() - start


def probe(rows: list[TimedRow]) -> tuple[list[TimedRow], dict[str, str], float]:
    """Call every row once; a row whose first call fails is set aside, with the reason.

    Returns the rows that ran, the reason for each one set aside, and the round's cost in s.
    """
    kept, failed, cost_ns = [], {}, 0
    for row in rows:
        try:
            cost_ns += _call_once(row)
        except Exception as exc:  # recorded in the results, never hidden
            failed[row.label] = f"its first call failed: {type(exc).__name__}: {exc}"
            continue
        kept.append(row)
    return kept, failed, cost_ns / 1e9


def time_rows(rows: list[TimedRow], iterations: int, warmup: int, budget_s: float,
              progress: bool = True, title: str = "") -> dict[str, Any]:
    """Time ``rows`` round-robin; returns per-row statistics and how the rounds went."""
    foreign = ForeignLoad()
    started = time.monotonic()
    kept, failed, probe_s = probe(rows)
    plan = plan_rounds(probe_s, iterations, warmup, budget_s)
    samples: dict[str, list[int]] = {row.label: [] for row in kept}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        rounds = range(plan.warmup + plan.timed)
        for round_index in tqdm(rounds, desc=title, disable=not progress, leave=False):
            gc.collect(0)  # the young generation only: cheap, outside the timed calls
            offset = round_index % len(kept) if kept else 0
            for row in kept[offset:] + kept[:offset]:
                elapsed = _call_once(row)
                if round_index >= plan.warmup:
                    samples[row.label].append(elapsed)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        "rows": {label: latency_stats(values) for label, values in samples.items()},
        "failed": failed,
        "rounds": {"warmup": plan.warmup, "timed": plan.timed,
                   "asked": {"warmup": warmup, "timed": iterations},
                   "budget_s": budget_s, "budget_limited": plan.budget_limited,
                   "probe_round_s": round(plan.probe_round_s, 4),
                   "wall_s": round(time.monotonic() - started, 2)},
        "other_processes_cores": foreign.cores_taken(),
    }
