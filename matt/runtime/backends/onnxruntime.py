"""ONNX Runtime: the CPU execution provider, or CUDA with onnxruntime-gpu (the serving path)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from matt.errors import BundleError, SpecError
from matt.runtime.backends.base import Backend, EngineRequest

if TYPE_CHECKING:
    from matt.runtime.engines.base import EngineSet


def ort_cuda_provider() -> bool:
    """Whether the installed ONNX Runtime has the CUDA execution provider (onnxruntime-gpu)."""
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    precisions = ("fp32", "int8")
    auto_gpu = 1
    auto_cpu = 0

    def unavailable_reason(self, device: str) -> str | None:
        if device.startswith("cuda") and not ort_cuda_provider():
            return "onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)"
        return None

    def open(self, request: EngineRequest) -> EngineSet:
        from matt.runtime.engines import ort_engine
        from matt.runtime.precision import ModelSelection

        if request.bundle is None:
            raise SpecError("backend 'onnxruntime' runs a bundle; export one with matt-export")
        models = ModelSelection.from_bundle(request.bundle, request.pool_indices,
                                            request.precision)
        if request.fused and models.fused_file is None:
            raise BundleError(f"{request.bundle.root}: no fused {request.precision} graph; "
                              "export the bundle again with this matt-export (--fused)")
        return ort_engine.open_engines(models, request.device, fused=request.fused)
