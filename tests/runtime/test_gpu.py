"""GPU engines: torch-CUDA streams, ONNX Runtime-CUDA and TensorRT.

The ``gpu`` tests skip with the reason where the backend cannot run."""

from __future__ import annotations

import numpy as np
import pytest

from matt.errors import BundleError
from matt.runtime import Pipeline
from matt.runtime.devices import unavailable_reason
from tests.runtime.conftest import random_images


def _skip_unless(backend: str, device: str = "cuda:0") -> None:
    reason = unavailable_reason(backend, device)
    if reason is not None:
        pytest.skip(f"{backend} on {device}: {reason}")


@pytest.mark.gpu
def test_torch_cuda_streams_give_the_cpu_result(rgb_bundle):
    _skip_unless("torch")
    weights_path, bundle = rgb_bundle
    images = random_images((16, *bundle.manifest.input_shape), seed=1)
    with Pipeline.from_weights(weights_path, device="cuda", seed=5) as gpu, \
            Pipeline.from_weights(weights_path, device="cpu", seed=5) as cpu:
        assert "stream" in gpu.describe()
        for _ in range(2):
            np.testing.assert_allclose(gpu.predict(images), cpu.predict(images), atol=1e-4)


@pytest.mark.gpu
def test_torch_cuda_engines_overlap_in_a_trace(rgb_bundle):
    """Some kernel of one engine's stream runs while a kernel of another's is running."""
    _skip_unless("torch")
    import torch
    from torch.profiler import ProfilerActivity, profile

    weights_path, bundle = rgb_bundle
    images = random_images((256, *bundle.manifest.input_shape), seed=2)
    with Pipeline.from_weights(weights_path, device="cuda", seed=3) as pipe:
        pipe.purify(images)  # warm up (cuDNN autotuning, allocator)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as trace:
            pipe.purify(images)
            torch.cuda.synchronize()
    kernels = sorted((e.start_ns(), e.end_ns(), e.device_resource_id())
                     for e in trace.profiler.kineto_results.events()
                     if e.device_type() == torch.autograd.DeviceType.CUDA)
    streams = {stream for _, _, stream in kernels}
    assert len(streams) >= 2, f"expected work on several streams, got {streams}"
    assert _overlap(kernels), "no two streams ran at the same time"


def _overlap(kernels: list[tuple[int, int, int]]) -> bool:
    """Whether intervals (start, end, stream), sorted by start, overlap across streams."""
    running: list[tuple[int, int]] = []  # (end, stream) of intervals still open
    for start, end, stream in kernels:
        running = [(e, s) for e, s in running if e > start]
        if any(s != stream for _, s in running):
            return True
        running.append((end, stream))
    return False


@pytest.mark.gpu
def test_onnxruntime_cuda_matches_cpu(rgb_bundle):
    _skip_unless("onnxruntime")
    _, bundle = rgb_bundle
    images = random_images((8, *bundle.manifest.input_shape), seed=3)
    with Pipeline.load(bundle, backend="onnxruntime", device="cuda", seed=6) as gpu, \
            Pipeline.load(bundle, backend="onnxruntime", device="cpu", seed=6) as cpu:
        np.testing.assert_allclose(gpu.predict(images), cpu.predict(images), atol=1e-3)


@pytest.mark.gpu
@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 1e-3), ("fp16", 2e-2)])
def test_tensorrt_matches_onnxruntime_cpu(rgb_bundle, precision, tolerance):
    _skip_unless("tensorrt")
    _, bundle = rgb_bundle
    images = random_images((40, *bundle.manifest.input_shape), seed=4)
    with Pipeline.load(bundle, backend="tensorrt", seed=7, precision=precision) as trt, \
            Pipeline.load(bundle, backend="onnxruntime", device="cpu", seed=7) as cpu:
        assert trt.backend_name == "tensorrt"
        for _ in range(2):
            np.testing.assert_allclose(trt.purify(images), cpu.purify(images), atol=tolerance)
        np.testing.assert_allclose(trt.classify_undefended(images),
                                   cpu.classify_undefended(images), atol=tolerance)


@pytest.mark.gpu
def test_tensorrt_is_auto_where_it_imports(rgb_bundle):
    _skip_unless("tensorrt")
    with Pipeline.load(rgb_bundle[1]) as pipe:
        assert pipe.backend_name == "tensorrt"


def test_tensorrt_engine_sources_follow_the_bundle(rgb_bundle):
    """Which file each TensorRT engine comes from (no GPU needed: TensorRT is not imported)."""
    from dataclasses import replace

    from matt.runtime.engines.trt_engine import _source

    _, bundle = rgb_bundle
    model = bundle.manifest.purifiers[0]
    assert _source(bundle, model, "fp16").onnx == bundle.path(model.file)
    assert _source(bundle, model, "fp16").plan is None
    profile = {"input": "images", "min": [1, 3, 1, 1], "opt": [64, 3, 20, 20],
               "max": [1024, 3, 44, 44]}
    with_plan = replace(model, variants={
        "tensorrt-fp16": {"file": "purifiers/p0.fp16.plan", "profile": profile},
        "int8-symmetric": {"file": "purifiers/p0.int8-symmetric.onnx"}})
    source = _source(bundle, with_plan, "fp16")
    assert source.plan == bundle.path("purifiers/p0.fp16.plan")
    assert source.plan_covers((3, 20, 20)) and not source.plan_covers((3, 50, 50))
    assert not source.plan_covers((1, 20, 20))
    assert _source(bundle, with_plan, "int8").onnx == bundle.path(
        "purifiers/p0.int8-symmetric.onnx")
    with pytest.raises(BundleError, match="int8-symmetric"):
        _source(bundle, model, "int8")
