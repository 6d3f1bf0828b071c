"""The backend registry: one seam that the pipeline and device choice read, and one parity test
that every registered backend passes on every device it can run on here."""

from __future__ import annotations

import numpy as np
import pytest

from matt.errors import InputError, SpecError
from matt.runtime import Pipeline, available_backends, backends
from matt.runtime.backends import PRECISIONS, Backend, EngineRequest, backend_names, get_backend
from matt.runtime.devices import choose_backend, unavailable_reason
from matt.runtime.engines.base import EngineSet
from tests.runtime.test_parity import assert_parity

# fp32 everywhere; TensorRT's kernels differ from the CPU's more than ONNX Runtime's do.
TOLERANCE = {"tensorrt": 2e-3}
CASES = [(name, device) for name in backend_names() for device in ("cpu", "cuda:0")
         if device != "cpu" or not get_backend(name).gpu_only]


@pytest.mark.parametrize(("backend", "device"), CASES)
def test_every_registered_backend_matches_the_torch_reference(rgb_bundle, backend, device):
    reason = unavailable_reason(backend, device)
    if reason is not None:
        pytest.skip(f"{backend} on {device}: {reason}")
    weights_path, bundle = rgb_bundle
    with Pipeline.load(bundle, backend=backend, device=device, seed=11) as pipe:
        assert (pipe.backend_name, pipe.device) == (backend, device)
        assert_parity(pipe, weights_path, batch=6, seed=11,
                      tolerance=TOLERANCE.get(backend, 1e-4))


def test_the_registry_lists_the_three_backends_and_their_precisions():
    assert backend_names() == ("onnxruntime", "tensorrt", "torch")
    assert backends.precisions_by_backend() == {
        "onnxruntime": ("fp32", "int8"), "tensorrt": ("fp32", "fp16", "int8"),
        "torch": ("fp32",)}
    assert all(set(get_backend(n).precisions) <= set(PRECISIONS) for n in backend_names())


class _Recording(Backend):
    """A backend that opens ONNX Runtime's engines and records the request it got."""

    name = "recording"
    precisions = ("fp32",)
    auto_cpu = -1  # preferred over ONNX Runtime on the CPU

    def __init__(self) -> None:
        self.requests: list[EngineRequest] = []

    def unavailable_reason(self, device: str) -> str | None:
        return None if device == "cpu" else "CPU only"

    def open(self, request: EngineRequest) -> EngineSet:
        self.requests.append(request)
        return get_backend("onnxruntime").open(request)


def test_a_new_backend_is_one_class_and_one_registration(rgb_bundle, monkeypatch):
    """Registered, it is listed, chosen by auto by its rank, and opened by the pipeline."""
    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))
    recording = backends.register(_Recording())
    assert "recording@cpu" in available_backends()
    assert choose_backend("auto", "cpu").backend == "recording"
    images = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    with Pipeline.load(rgb_bundle[1], backend="recording", pool=[2, 0], patch=5, halo=1,
                       seed=1) as pipe, \
            Pipeline.load(rgb_bundle[1], backend="onnxruntime", pool=[2, 0], patch=5, halo=1,
                          seed=1) as reference:
        np.testing.assert_array_equal(pipe.predict(images), reference.predict(images))
    request = recording.requests[-1]
    assert (request.pool_indices, request.precision, request.device) == ((2, 0), "fp32", "cpu")
    assert request.window_shape == (3, 7, 7) and request.patches_per_image == 49
    with pytest.raises(InputError, match="runs fp32, not int8"):
        Pipeline.load(rgb_bundle[1], backend="recording", precision="int8")
    with pytest.raises(SpecError, match="registered already"):
        backends.register(_Recording())


def test_unknown_backends_and_precisions_are_input_errors(rgb_bundle):
    with pytest.raises(InputError, match="unknown backend 'onnx'; choose from auto, onnxruntime"):
        Pipeline.load(rgb_bundle[1], backend="onnx")
    with pytest.raises(InputError, match="precision must be one of fp32, fp16, int8"):
        Pipeline.load(rgb_bundle[1], backend="onnxruntime", precision="bf16")

    class Odd(_Recording):
        name, precisions = "odd", ("fp8",)

    with pytest.raises(SpecError, match="unknown precisions"):
        backends.register(Odd())
