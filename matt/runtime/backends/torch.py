"""torch eager: the pool's modules rebuilt from ``weights.pt`` (the reference and the GPU path
without TensorRT). The only backend that imports torch, and only when it opens engines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from matt.errors import SpecError
from matt.runtime.backends.base import Backend, EngineRequest, importable

if TYPE_CHECKING:
    from matt.runtime.engines.base import EngineSet


def _torch_cuda_reason() -> str | None:
    import torch

    return None if torch.cuda.is_available() else "this torch build has no CUDA"


class TorchBackend(Backend):
    name = "torch"
    precisions = ("fp32",)

    def unavailable_reason(self, device: str) -> str | None:
        if not importable("torch"):
            return "torch is not installed"
        return _torch_cuda_reason() if device.startswith("cuda") else None

    def open(self, request: EngineRequest) -> EngineSet:
        from matt.runtime.engines import torch_engine

        weights = request.weights
        if weights is None:
            if request.bundle is None:
                raise SpecError("backend 'torch' needs a bundle or a weights.pt")
            weights = torch_engine.weights_beside(request.bundle)
        return torch_engine.open_engines(torch_engine.load_weights_file(weights),
                                         request.pool_indices, request.device)
