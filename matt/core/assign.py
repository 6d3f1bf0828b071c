"""Which purifier purifies which patch: uniform, independent draws.

By default the draws come from the OS CSPRNG (``os.urandom``), so an attacker cannot replay them.
A seed gives a reproducible stream, for evaluation only.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from matt.core.types import EngineIds, IndexArray
from matt.errors import SpecError


class EngineDraw:
    """Draws one engine index in ``[0, pool_size)`` per patch.

    Thread-safe: the server calls it from several threads at once.
    """

    def __init__(self, pool_size: int, seed: int | None = None) -> None:
        if not isinstance(pool_size, int) or pool_size < 1:
            raise SpecError(f"pool size must be a positive integer, got {pool_size!r}")
        self.pool_size = pool_size
        self.seeded = seed is not None
        self._generator = np.random.Generator(np.random.PCG64(seed)) if seed is not None else None
        self._lock = threading.Lock()

    def draw(self, count: int) -> EngineIds:
        """Return ``count`` engine indices (int64)."""
        if self._generator is not None:
            with self._lock:
                return self._generator.integers(0, self.pool_size, size=count, dtype=np.int64)
        return _urandom_below(self.pool_size, count)


def _urandom_below(bound: int, count: int) -> EngineIds:
    """Uniform integers in ``[0, bound)`` from os.urandom, by rejection (no modulo bias)."""
    limit = (2**32 // bound) * bound
    drawn = np.empty(0, dtype=np.uint32)
    while drawn.size < count:
        raw = np.frombuffer(os.urandom(4 * (count - drawn.size) + 16), dtype=np.uint32)
        drawn = np.concatenate([drawn, raw[raw < limit]])
    return (drawn[:count] % bound).astype(np.int64)


def group_by_engine(engine_ids: EngineIds, pool_size: int) -> list[tuple[int, IndexArray]]:
    """For each engine that was drawn, the indices of its windows, in order."""
    return [
        (engine, np.flatnonzero(engine_ids == engine))
        for engine in range(pool_size)
        if np.any(engine_ids == engine)
    ]
