"""The run's wall-clock budget, the timer around one call, and the statistics of a row.

On CUDA a call is bracketed by two CUDA events recorded on the current stream
(``elapsed_time`` between them, after the end event completed); every row here returns its
output to the host, so the events span the whole call, copies and all side streams included.
The host's ``perf_counter`` is recorded beside it. On the CPU (the dry run) only the host clock
exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Budget:
    """A hard deadline for the whole run, counted from ``started`` (``time.monotonic``)."""

    total_s: float
    started: float

    @property
    def deadline(self) -> float:
        return self.started + self.total_s

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def share(self, parts_left: int, reserve_s: float) -> float:
        """An equal share of what is left (less ``reserve_s``) for each of ``parts_left``."""
        return max(0.0, self.remaining() - reserve_s) / max(1, parts_left)


class Timer:
    """Times one call: CUDA events (and the host clock) on a GPU, the host clock on the CPU."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        if cuda:
            import torch

            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)

    @property
    def name(self) -> str:
        return "cuda-events" if self.cuda else "perf_counter"

    def time(self, call: Callable[[], object]) -> tuple[float, float]:
        """Run ``call`` once; returns (the primary clock's ms, the host clock's ms)."""
        if not self.cuda:
            start = time.perf_counter_ns()
            call()
            host_ms = (time.perf_counter_ns() - start) / 1e6
            return host_ms, host_ms
        self._start.record()
        start = time.perf_counter_ns()
        call()
        self._end.record()
        self._end.synchronize()
        host_ms = (time.perf_counter_ns() - start) / 1e6
        return float(self._start.elapsed_time(self._end)), host_ms


def row_stats(samples_ms: Sequence[float], host_ms: Sequence[float]) -> dict[str, Any]:
    """Median and interquartile range of the primary clock, and the host clock's median."""
    values = np.asarray(samples_ms, dtype=np.float64)
    p25, median, p75, p99 = np.percentile(values, [25, 50, 75, 99])
    return {"n": int(values.size), "median_ms": float(median), "p25_ms": float(p25),
            "p75_ms": float(p75), "iqr_ms": float(p75 - p25), "p99_ms": float(p99),
            "mean_ms": float(values.mean()), "min_ms": float(values.min()),
            "max_ms": float(values.max()),
            "host_median_ms": float(np.median(np.asarray(host_ms, dtype=np.float64)))}
