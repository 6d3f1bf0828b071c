"""Concurrent callers: the server calls one pipeline from several threads at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from matt.runtime import Concurrency, Pipeline
from tests.runtime.conftest import random_images

THREADS, CALLS = 8, 3


def test_seeded_views_in_threads_equal_serial_calls(rgb_bundle):
    """One set of engines, eight threads, each with its own seeded draw stream."""
    _, bundle = rgb_bundle
    inputs = [random_images((1 + i % 4, *bundle.manifest.input_shape), seed=i)
              for i in range(THREADS)]

    def work(pipe: Pipeline, index: int) -> list[np.ndarray]:
        view = pipe.with_seed(100 + index)
        return [view.predict(inputs[index]) for _ in range(CALLS)]

    with Pipeline.load(bundle, backend="onnxruntime") as pipe:
        serial = [work(pipe, i) for i in range(THREADS)]
        with ThreadPoolExecutor(THREADS) as pool:
            concurrent = list(pool.map(lambda i: work(pipe, i), range(THREADS)))
    for expected, got in zip(serial, concurrent, strict=True):
        for one, other in zip(expected, got, strict=True):
            np.testing.assert_array_equal(one, other)
    # the views did draw: the same input under another seed gives another result
    assert not np.array_equal(serial[0][0], serial[0][1])


def test_shared_pipeline_in_threads_keeps_every_call_apart(rgb_bundle):
    """A pool of one is deterministic whatever the draws: threads must not mix calls."""
    _, bundle = rgb_bundle
    inputs = [random_images((2, *bundle.manifest.input_shape), seed=50 + i)
              for i in range(THREADS * 2)]
    with Pipeline.load(bundle, backend="onnxruntime", pool=1) as pipe:
        serial = [pipe.predict(x) for x in inputs]
        with ThreadPoolExecutor(THREADS) as pool:
            concurrent = list(pool.map(pipe.predict, inputs))
    for expected, got in zip(serial, concurrent, strict=True):
        np.testing.assert_array_equal(expected, got)


def test_thread_pool_concurrency_gives_the_sequential_result(rgb_bundle):
    from matt.runtime.engines.ort_engine import SessionSettings

    _, bundle = rgb_bundle
    images = random_images((7, *bundle.manifest.input_shape), seed=9)
    outputs = []
    for concurrency in (Concurrency.SEQUENTIAL, Concurrency.THREADS):
        settings = SessionSettings(intra_op_threads=1, concurrency=concurrency)
        with _open_with(bundle, settings, seed=4) as pipe:
            outputs.append(pipe.purify(images))
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6)


def _open_with(bundle, settings, seed: int) -> Pipeline:
    """A pipeline over ONNX Runtime sessions opened with the given settings."""
    from matt.runtime.devices import BackendChoice
    from matt.runtime.engines import ort_engine
    from matt.runtime.precision import ModelSelection

    indices = tuple(range(len(bundle.manifest.purifiers)))
    engines = ort_engine.open_engines(ModelSelection.from_bundle(bundle, indices, "fp32"), "cpu",
                                      settings)
    assert engines.concurrency is settings.concurrency
    return Pipeline(bundle.manifest, engines, choice=BackendChoice("onnxruntime", "cpu", "test"),
                    pool_indices=indices, patch=bundle.manifest.patch, halo=bundle.manifest.halo,
                    seed=seed)


def test_matt_ort_threads_sets_the_pool_size(rgb_bundle, monkeypatch):
    from matt.errors import InputError

    _, bundle = rgb_bundle
    images = random_images((3, *bundle.manifest.input_shape), seed=13)
    outputs = []
    for threads in ("1", "3"):
        monkeypatch.setenv("MATT_ORT_THREADS", threads)
        with Pipeline.load(bundle, backend="onnxruntime", seed=2) as pipe:
            assert f"a pool of {threads} host threads" in pipe.describe()
            outputs.append(pipe.purify(images))
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6)
    monkeypatch.setenv("MATT_ORT_THREADS", "many")
    with pytest.raises(InputError, match="MATT_ORT_THREADS"):
        Pipeline.load(bundle, backend="onnxruntime")
