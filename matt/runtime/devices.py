"""Which backends can run here, and the ``auto`` choice, found without importing torch.

A CUDA GPU is detected through the driver library (``libcuda``) with ctypes, so the check costs
nothing on a machine without one and never pulls torch into the ONNX Runtime path.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from dataclasses import dataclass

from matt.errors import BackendUnavailable, InputError
from matt.runtime.backends import backend_names, get_backend
from matt.runtime.backends.onnxruntime import ort_cuda_provider

LOG = logging.getLogger("matt.runtime")
__all__ = ["BackendChoice", "available_backends", "choose_backend", "cuda_device_count",
           "ort_cuda_provider", "parse_device", "unavailable_reason"]


@functools.cache
def cuda_device_count() -> int:
    """CUDA GPUs visible to this process (0 where there is no driver)."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def parse_device(device: str | None) -> str | None:
    """``None``, ``cpu``, ``cuda`` or ``cuda:N`` → ``None``, ``cpu`` or ``cuda:N``."""
    if device is None or device == "cpu":
        return device
    if device == "cuda":
        return "cuda:0"
    if device.startswith("cuda:") and device[5:].isdigit():
        return device
    raise InputError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def unavailable_reason(backend: str, device: str) -> str | None:
    """Why ``backend`` cannot run on ``device`` here, or ``None`` when it can."""
    chosen = get_backend(backend)  # an unknown name is an InputError listing the known ones
    gpu = device.startswith("cuda")
    if gpu and cuda_device_count() == 0:
        return "no CUDA GPU is visible (libcuda not found or no device)"
    if gpu and int(device.split(":")[1]) >= cuda_device_count():
        return f"{device} does not exist ({cuda_device_count()} CUDA device(s))"
    return chosen.unavailable_reason(device)


def available_backends() -> list[str]:
    """Every ``backend@device`` that can run here, e.g. ``['onnxruntime@cpu', 'torch@cpu']``."""
    devices = ["cpu"] + [f"cuda:{index}" for index in range(cuda_device_count())]
    return [f"{backend}@{device}" for backend in backend_names() for device in devices
            if unavailable_reason(backend, device) is None]


@dataclass(frozen=True)
class BackendChoice:
    backend: str
    device: str
    reason: str


def choose_backend(backend: str = "auto", device: str | None = None) -> BackendChoice:
    """Resolve ``auto`` and a default device; refuse a backend that cannot run here.

    ``auto``: the registry's order of preference (``Backend.auto_gpu`` / ``auto_cpu``):
    TensorRT on a GPU with TensorRT, ONNX Runtime-CUDA on a GPU without it, ONNX Runtime-CPU
    otherwise. A named backend without a device takes the GPU when it can.

    Raises:
        BackendUnavailable: the backend cannot run here; the message lists the ones that can.
        InputError: an unknown backend or a malformed device.
    """
    device = parse_device(device)
    if backend == "auto":
        return _auto(device)
    chosen = get_backend(backend)
    if device is None:
        gpu_usable = unavailable_reason(backend, "cuda:0") is None
        device = "cuda:0" if chosen.gpu_only or gpu_usable else "cpu"
    reason = unavailable_reason(backend, device)
    if reason is not None:
        raise BackendUnavailable(f"backend {backend!r} on {device} cannot run here: {reason}; "
                                 f"available: {', '.join(available_backends())}")
    return BackendChoice(backend, device, "asked for")


def _auto_candidates(device: str | None) -> list[tuple[str, str, str]]:
    """(backend, device, why) in the order ``auto`` tries them."""
    backends = [get_backend(name) for name in backend_names()]
    candidates = []
    if device != "cpu":
        gpu = device or "cuda:0"
        ranked = sorted((b for b in backends if b.auto_gpu is not None),
                        key=lambda b: b.auto_gpu or 0)
        for position, chosen in enumerate(ranked):
            better = [b.name for b in ranked[:position]]
            why = (f"a GPU without {' or '.join(_label(n) for n in better)}" if better
                   else f"a GPU with {_label(chosen.name)}")
            candidates.append((chosen.name, gpu, why))
    if device in (None, "cpu"):
        ranked = sorted((b for b in backends if b.auto_cpu is not None),
                        key=lambda b: b.auto_cpu or 0)
        candidates += [(b.name, "cpu", "no usable GPU") for b in ranked]
    return candidates


def _label(name: str) -> str:
    return {"tensorrt": "TensorRT", "onnxruntime": "ONNX Runtime"}.get(name, name)


def _auto(device: str | None) -> BackendChoice:
    reasons = []
    for backend, where, why in _auto_candidates(device):
        reason = unavailable_reason(backend, where)
        if reason is None:
            LOG.info("backend auto: %s on %s (%s)", backend, where, why)
            return BackendChoice(backend, where, f"auto: {why}")
        reasons.append(f"{backend}@{where}: {reason}")
    raise BackendUnavailable(f"backend 'auto' on {device}: nothing can run ({'; '.join(reasons)}); "
                             f"available: {', '.join(available_backends())}")
