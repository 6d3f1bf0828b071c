"""Which backend runs: ``auto``'s choice, and a clear refusal of one that cannot run here."""

from __future__ import annotations

import logging

import pytest

from matt.errors import BackendUnavailable
from matt.runtime import Pipeline, available_backends, choose_backend, devices


def test_available_backends_include_onnxruntime_on_the_cpu():
    available = available_backends()
    assert "onnxruntime@cpu" in available and "torch@cpu" in available


def test_auto_on_this_machine(rgb_bundle, caplog):
    caplog.set_level(logging.INFO, logger="matt.runtime")
    with Pipeline.load(rgb_bundle[1]) as pipe:
        expected = choose_backend("auto")
        assert (pipe.backend_name, pipe.device) == (expected.backend, expected.device)
        assert pipe.pool_size == len(rgb_bundle[1].manifest.purifiers)
    assert f"backend auto: {expected.backend} on {expected.device}" in caplog.text
    if devices.cuda_device_count() == 0:
        assert (expected.backend, expected.device) == ("onnxruntime", "cpu")


@pytest.mark.skipif(devices.cuda_device_count() > 0, reason="this machine has a GPU")
@pytest.mark.parametrize(("backend", "device"), [("tensorrt", None), ("onnxruntime", "cuda"),
                                                 ("torch", "cuda:0"), ("auto", "cuda")])
def test_a_gpu_backend_without_a_gpu_lists_what_can_run(rgb_bundle, backend, device):
    with pytest.raises(BackendUnavailable) as caught:
        Pipeline.load(rgb_bundle[1], backend=backend, device=device)
    message = str(caught.value)
    assert "cannot run" in message or "nothing can run" in message
    assert "available: onnxruntime@cpu" in message


@pytest.mark.parametrize(("gpus", "runnable", "expected"), [
    (1, {"tensorrt", "onnxruntime-gpu"}, ("tensorrt", "cuda:0")),
    (1, {"onnxruntime-gpu"}, ("onnxruntime", "cuda:0")),
    (1, set(), ("onnxruntime", "cpu")),
    (0, {"tensorrt", "onnxruntime-gpu"}, ("onnxruntime", "cpu")),
])
def test_auto_prefers_tensorrt_then_onnxruntime_cuda_then_cpu(monkeypatch, gpus, runnable,
                                                              expected):
    """The order of preference, with what this machine has replaced by each case."""
    def reason(backend: str, device: str) -> str | None:
        if device == "cpu":
            return None
        if gpus == 0:
            return "no GPU"
        key = "onnxruntime-gpu" if backend == "onnxruntime" else backend
        return None if key in runnable else f"{key} missing"

    monkeypatch.setattr(devices, "unavailable_reason", reason)
    choice = choose_backend("auto")
    assert (choice.backend, choice.device) == expected
    assert choice.reason.startswith("auto: ")
