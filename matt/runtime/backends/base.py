"""What a runtime backend is: a name, its precisions, why it cannot run on a device, and how it
opens the engines of one :class:`EngineRequest`.

Nothing here imports a backend's library: a backend imports it in :meth:`Backend.open`, so the
registry can be read (``available_backends()``, serve and bench options) on a machine without
torch or TensorRT.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matt.formats.bundle import Bundle

if TYPE_CHECKING:
    from matt.runtime.engines.base import EngineSet

PRECISIONS = ("fp32", "fp16", "int8")
"""Every precision any backend runs; a backend lists the ones it does in ``precisions``."""


@dataclass(frozen=True)
class EngineRequest:
    """Everything a backend needs to open a pipeline's engines.

    Attributes:
        bundle: the verified bundle (``None`` only for a torch pipeline built from weights).
        pool_indices: the purifiers of the pool, in draw order.
        precision: one of the backend's ``precisions``.
        device: ``cpu`` or ``cuda:N``.
        window_shape: (C, H, W) of the windows the scheduler sends a purifier.
        patches_per_image: windows per image, which sizes the engines' buffers.
        weights: a ``weights.pt`` path or a loaded ``WeightsFile`` (the torch backend only).
        fused: also open the bundle's fused graph (every purifier in one model); a backend
            without one for this request raises :class:`~matt.errors.BundleError`.
    """

    bundle: Bundle | None
    pool_indices: tuple[int, ...]
    precision: str
    device: str
    window_shape: tuple[int, int, int]
    patches_per_image: int
    weights: Any = None
    fused: bool = False


def importable(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class Backend(ABC):
    """One way of running a bundle's models.

    Attributes:
        name: what users pass as ``backend=`` (and ``--backend``).
        precisions: the precisions it runs, from :data:`PRECISIONS`.
        gpu_only: it cannot run on the CPU (a named backend then defaults to ``cuda:0``).
        auto_gpu, auto_cpu: its rank in ``backend="auto"``'s order of preference on a GPU and
            on the CPU (lower first); ``None`` keeps it out of ``auto`` there.
    """

    name: str
    precisions: tuple[str, ...]
    gpu_only: bool = False
    auto_gpu: int | None = None
    auto_cpu: int | None = None

    @abstractmethod
    def unavailable_reason(self, device: str) -> str | None:
        """Why it cannot run on ``device`` (a visible ``cpu`` or ``cuda:N``), or ``None``."""

    @abstractmethod
    def open(self, request: EngineRequest) -> EngineSet:
        """Load the engines of ``request``; imports the backend's library."""
