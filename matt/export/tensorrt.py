"""ONNX → TensorRT engine (``.plan``), against TensorRT 10's API. TensorRT is imported lazily.

One engine per model, built by the runtime's one TensorRT builder
(:func:`matt.runtime.engines.trt_engine.build_serialized`): an explicit-batch network parsed
from the ONNX file, one optimization profile (:mod:`matt.export.engine_shapes`), FP16 for FP16
and FP16 + INT8 for INT8, whose input is a Q/DQ graph (explicit quantization; no calibrator),
TF32 off for FP32, and a timing cache shared by every build. An engine only runs on the GPU model
and TensorRT version it was built with, so the manifest records both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matt.core.files import write_bytes_atomic
from matt.errors import BackendUnavailable, ExportError
from matt.formats.engine_shapes import ShapeRange
from matt.runtime.engines.trt_engine import build_serialized

MIN_TENSORRT_MAJOR = 10
_INSTALL = "install TensorRT 10 (pip install 'matt[gpu]') on a machine with an NVIDIA GPU"


@dataclass(frozen=True)
class TensorRTTarget:
    """The TensorRT version and GPU that engines are built for."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str

    def describe(self) -> dict[str, str]:
        return {"tensorrt_version": self.tensorrt_version, "gpu_name": self.gpu_name,
                "compute_capability": self.compute_capability}


def default_timing_cache() -> Path:
    """``$XDG_CACHE_HOME/matt/tensorrt.timing-cache`` (``~/.cache`` without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "matt" / "tensorrt.timing-cache"


def _import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError:
        raise BackendUnavailable(f"TensorRT is not installed here; {_INSTALL}, or export with "
                                 "--engine none") from None
    return trt


def _gpu() -> tuple[str, str] | None:
    """Name and compute capability of CUDA device 0, or ``None`` when there is none."""
    import torch

    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        return torch.cuda.get_device_name(0), f"{major}.{minor}"
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python before 12.6
        except ImportError:
            return None
    error, count = cudart.cudaGetDeviceCount()
    if int(error) != 0 or count < 1:
        return None
    error, properties = cudart.cudaGetDeviceProperties(0)
    if int(error) != 0:
        return None
    name = properties.name.decode(errors="replace").rstrip("\x00")
    return name, f"{properties.major}.{properties.minor}"


def probe_tensorrt(precision: str) -> TensorRTTarget:
    """Check that engines of ``precision`` can be built here, before anything is written.

    Raises:
        BackendUnavailable: no TensorRT, a TensorRT older than 10 or without the precision's
            builder flag, or no CUDA GPU.
    """
    trt = _import_tensorrt()
    version = str(getattr(trt, "__version__", "unknown"))
    major = version.split(".")[0]
    if not major.isdigit() or int(major) < MIN_TENSORRT_MAJOR:
        raise BackendUnavailable(f"TensorRT {version} is too old; {_INSTALL}")
    for flag in _flags(precision):
        if not hasattr(trt.BuilderFlag, flag):
            raise BackendUnavailable(f"TensorRT {version} has no BuilderFlag.{flag} (removed "
                                     f"after TensorRT 10); build {precision} engines with 10.x")
    gpu = _gpu()
    if gpu is None:
        raise BackendUnavailable("TensorRT engines need a CUDA GPU and none is visible here; "
                                 "export with --engine none, or run on a GPU machine")
    return TensorRTTarget(version, *gpu)


def _flags(precision: str) -> tuple[str, ...]:
    return {"fp32": (), "fp16": ("FP16",), "int8": ("FP16", "INT8")}[precision]


def build_engine(onnx_path: Path, plan_path: Path, shapes: ShapeRange, precision: str,
                 timing_cache: Path | None) -> None:
    """Build one serialized engine from ``onnx_path`` into ``plan_path``.

    Args:
        onnx_path: the FP32 graph (FP32 and FP16 engines) or the Q/DQ graph (INT8 engines).
        plan_path: where the serialized engine goes.
        shapes: the input's optimization profile.
        precision: ``fp32``, ``fp16`` or ``int8``.
        timing_cache: read before the build when it exists and written back after it.

    Raises:
        ExportError: the parser or the builder failed; the message names the model.
    """
    try:
        serialized = build_serialized(_import_tensorrt(), onnx_path, shapes.input_name,
                                      (shapes.min, shapes.opt, shapes.max), precision,
                                      timing_cache)
    except BackendUnavailable as error:
        raise ExportError(str(error)) from None
    write_bytes_atomic(plan_path, memoryview(serialized))


def engine_entry(relative: str, sha256: str, precision: str, source: str, shapes: ShapeRange,
                 target: TensorRTTarget) -> dict[str, Any]:
    """The manifest's variant entry of one engine (``variants["tensorrt-<precision>"]``)."""
    return {"file": relative, "sha256": sha256, "precision": precision, "source": source,
            "profile": shapes.to_dict(), **target.describe()}
