"""The scheduler: each window purified exactly once, in bounded calls, shared fairly."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from matt.core import EngineDraw
from matt.runtime import Concurrency, Pipeline, Runner
from matt.runtime.scheduler import PatchScheduler, _balance, items_per_call
from tests.runtime.conftest import random_images


class Counting(Runner):
    """Wraps a real runner and records the batch size of every call."""

    def __init__(self, inner: Runner) -> None:
        self.inner, self.name = inner, inner.name
        self.calls: list[int] = []
        self._lock = threading.Lock()

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        with self._lock:
            self.calls.append(inputs.shape[0])
        return self.inner.run(inputs)


@pytest.mark.parametrize("concurrency", [Concurrency.SEQUENTIAL, Concurrency.THREADS])
@pytest.mark.parametrize(("pool", "batch"), [(1, 1), (3, 1), (1, 40), (3, 40)])
def test_every_window_is_purified_once_whatever_the_pool(rgb_bundle, pool, batch, concurrency):
    _, bundle = rgb_bundle
    with Pipeline.load(bundle, backend="onnxruntime", pool=pool) as pipe:
        engines = [Counting(runner) for runner in pipe._loaded.engines.purifiers]
        scheduler = PatchScheduler(engines, pipe.patch, pipe.halo, concurrency, workers=2)
        images = random_images((batch, *pipe.input_shape), seed=batch)
        purified = scheduler.purify(images, EngineDraw(pool, seed=0))
        reference = pipe.with_seed(0).purify(images)
        scheduler.close()
    plan = pipe.plan()
    calls = [size for engine in engines for size in engine.calls]
    assert sum(calls) == batch * plan.patches_per_image
    assert max(calls) <= items_per_call((3, *plan.window_shape))
    np.testing.assert_allclose(purified, reference, atol=1e-6)
    if concurrency is Concurrency.THREADS and pool == 1:
        assert len(calls) >= 2  # one engine's windows are still shared by both workers


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_balance_shares_calls_evenly(workers):
    sizes = np.random.default_rng(workers).integers(1, 60, size=17)
    groups = [(i % 4, np.arange(size)) for i, size in enumerate(sizes)]
    shares = _balance(groups, workers)
    assert sorted(len(g[1]) for share in shares for g in share) == sorted(sizes.tolist())
    loads = [sum(len(g[1]) for g in share) for share in shares]
    assert len(shares) == min(workers, len(groups))
    assert max(loads) - min(loads) <= max(sizes)
