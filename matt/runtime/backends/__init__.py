"""The backend registry: every runtime backend, read by the pipeline, device choice, serve and
bench options, and the parity tests.

Adding a backend is one file here (a :class:`Backend` whose ``open`` returns an
:class:`~matt.runtime.engines.base.EngineSet`) and one :func:`register` line below.
"""

from __future__ import annotations

from matt.errors import InputError, SpecError
from matt.runtime.backends.base import PRECISIONS, Backend, EngineRequest, importable
from matt.runtime.backends.onnxruntime import OnnxRuntimeBackend
from matt.runtime.backends.tensorrt import TensorRTBackend
from matt.runtime.backends.torch import TorchBackend

__all__ = ["PRECISIONS", "Backend", "EngineRequest", "backend_names", "check_precision",
           "get_backend", "importable", "precisions_by_backend", "register"]

_REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add ``backend`` under its name; a second backend of the same name is a :class:`SpecError`."""
    if backend.name in _REGISTRY or backend.name == "auto":
        raise SpecError(f"backend {backend.name!r} is registered already")
    unknown = set(backend.precisions) - set(PRECISIONS)
    if unknown:
        raise SpecError(f"backend {backend.name!r}: unknown precisions {sorted(unknown)}")
    _REGISTRY[backend.name] = backend
    return backend


def backend_names() -> tuple[str, ...]:
    """Every registered backend, in registration order (``auto`` is not one)."""
    return tuple(_REGISTRY)


def get_backend(name: str) -> Backend:
    """The backend called ``name``; an unknown one is an :class:`InputError` listing them."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown backend {name!r}; choose from "
                         f"{', '.join(('auto', *_REGISTRY))}") from None


def precisions_by_backend() -> dict[str, tuple[str, ...]]:
    return {name: backend.precisions for name, backend in _REGISTRY.items()}


def check_precision(precision: str, backend: str) -> None:
    """Refuse a precision that no backend, or not this one, runs."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    supported = get_backend(backend).precisions
    if precision not in supported:
        raise InputError(f"backend {backend!r} runs {', '.join(supported)}, not {precision}")


register(OnnxRuntimeBackend())
register(TensorRTBackend())
register(TorchBackend())
