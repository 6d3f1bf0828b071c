"""TensorRT 10 on a CUDA GPU: the bundle's plans, or engines built from its ONNX at load."""

from __future__ import annotations

from typing import TYPE_CHECKING

from matt.errors import SpecError
from matt.runtime.backends.base import Backend, EngineRequest, importable

if TYPE_CHECKING:
    from matt.runtime.engines.base import EngineSet


class TensorRTBackend(Backend):
    name = "tensorrt"
    precisions = ("fp32", "fp16", "int8")
    gpu_only = True
    auto_gpu = 0

    def unavailable_reason(self, device: str) -> str | None:
        if not device.startswith("cuda"):
            return "TensorRT runs on a CUDA GPU only"
        if not importable("tensorrt"):
            return "the tensorrt package is not installed (pip install 'matt[gpu]')"
        if not importable("cuda.bindings") and not importable("cuda.cudart"):
            return "cuda-python is not installed (pip install cuda-python)"
        return None

    def open(self, request: EngineRequest) -> EngineSet:
        from matt.runtime.engines import trt_engine

        if request.bundle is None:
            raise SpecError("backend 'tensorrt' runs a bundle; export one with matt-export")
        engines = trt_engine.open_engines(request.bundle, request.pool_indices,
                                          request.precision, request.device,
                                          request.window_shape, request.patches_per_image)
        if request.fused:  # one engine for the pool (engines/trt_fused.py)
            from matt.runtime.engines import trt_fused

            try:
                engines.fused = trt_fused.open_fused(
                    request.bundle, request.pool_indices, request.precision, request.device,
                    request.window_shape, request.patches_per_image)
            except BaseException:
                engines.close()
                raise
            engines.description += ", the fused engine: one enqueue for the pool"
        return engines
