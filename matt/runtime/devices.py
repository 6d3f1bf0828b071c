"""Which backends can run here, and the ``auto`` choice, found without importing torch.

A CUDA GPU is detected through the driver library (``libcuda``) with ctypes, so the check costs
nothing on a machine without one and never pulls torch into the ONNX Runtime path.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import logging
from dataclasses import dataclass

from matt.errors import BackendUnavailable, InputError

LOG = logging.getLogger("matt.runtime")
BACKENDS = ("onnxruntime", "tensorrt", "torch")


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


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def ort_cuda_provider() -> bool:
    """Whether the installed ONNX Runtime has the CUDA execution provider (onnxruntime-gpu)."""
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


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
    gpu = device.startswith("cuda")
    if gpu and cuda_device_count() == 0:
        return "no CUDA GPU is visible (libcuda not found or no device)"
    if gpu and int(device.split(":")[1]) >= cuda_device_count():
        return f"{device} does not exist ({cuda_device_count()} CUDA device(s))"
    if backend == "onnxruntime":
        if gpu and not ort_cuda_provider():
            return "onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)"
        return None
    if backend == "tensorrt":
        if not gpu:
            return "TensorRT runs on a CUDA GPU only"
        if not _importable("tensorrt"):
            return "the tensorrt package is not installed (pip install 'matt[gpu]')"
        if not _importable("cuda.bindings") and not _importable("cuda.cudart"):
            return "cuda-python is not installed (pip install cuda-python)"
        return None
    if backend == "torch":
        if not _importable("torch"):
            return "torch is not installed"
        return _torch_cuda_reason() if gpu else None
    raise InputError(f"unknown backend {backend!r}; choose from {', '.join(('auto', *BACKENDS))}")


def _torch_cuda_reason() -> str | None:
    import torch

    return None if torch.cuda.is_available() else "this torch build has no CUDA"


def available_backends() -> list[str]:
    """Every ``backend@device`` that can run here, e.g. ``['onnxruntime@cpu', 'torch@cpu']``."""
    devices = ["cpu"] + [f"cuda:{index}" for index in range(cuda_device_count())]
    return [f"{backend}@{device}" for backend in BACKENDS for device in devices
            if unavailable_reason(backend, device) is None]


@dataclass(frozen=True)
class BackendChoice:
    backend: str
    device: str
    reason: str


def choose_backend(backend: str = "auto", device: str | None = None) -> BackendChoice:
    """Resolve ``auto`` and a default device; refuse a backend that cannot run here.

    ``auto``: TensorRT on a GPU with TensorRT, ONNX Runtime-CUDA on a GPU without it,
    ONNX Runtime-CPU otherwise. A named backend without a device takes the GPU when it can.

    Raises:
        BackendUnavailable: the backend cannot run here; the message lists the ones that can.
    """
    device = parse_device(device)
    if backend == "auto":
        return _auto(device)
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose from "
                         f"{', '.join(('auto', *BACKENDS))}")
    if device is None:
        gpu_usable = unavailable_reason(backend, "cuda:0") is None
        device = "cuda:0" if backend == "tensorrt" or gpu_usable else "cpu"
    reason = unavailable_reason(backend, device)
    if reason is not None:
        raise BackendUnavailable(f"backend {backend!r} on {device} cannot run here: {reason}; "
                                 f"available: {', '.join(available_backends())}")
    return BackendChoice(backend, device, "asked for")


def _auto(device: str | None) -> BackendChoice:
    candidates = []
    if device != "cpu":
        gpu = device or "cuda:0"
        candidates += [("tensorrt", gpu, "a GPU with TensorRT"),
                       ("onnxruntime", gpu, "a GPU without TensorRT")]
    if device in (None, "cpu"):
        candidates.append(("onnxruntime", "cpu", "no usable GPU"))
    reasons = []
    for backend, where, why in candidates:
        reason = unavailable_reason(backend, where)
        if reason is None:
            LOG.info("backend auto: %s on %s (%s)", backend, where, why)
            return BackendChoice(backend, where, f"auto: {why}")
        reasons.append(f"{backend}@{where}: {reason}")
    raise BackendUnavailable(f"backend 'auto' on {device}: nothing can run ({'; '.join(reasons)}); "
                             f"available: {', '.join(available_backends())}")
