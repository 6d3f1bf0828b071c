"""A name → builder registry: one seam per kind of model part."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from matt.errors import SpecError

if TYPE_CHECKING:
    from torch import nn

T = TypeVar("T")


class Registry(Generic[T]):
    """Builders by name; registering a name twice warns and keeps the newest."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(builder: T) -> T:
            if name in self._builders:
                warnings.warn(f"{self.kind} {name!r} registered twice", stacklevel=2)
            self._builders[name] = builder
            return builder

        return decorate

    def get(self, name: str) -> T:
        try:
            return self._builders[name]
        except KeyError:
            known = ", ".join(sorted(self._builders))
            raise SpecError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._builders)

    def __contains__(self, name: object) -> bool:
        return name in self._builders


ENCODERS: Registry[Callable[[Any], nn.Module]] = Registry("encoder")
"""Purifier encoders by name (:mod:`matt.models.encoders` registers ``edsr`` and ``rcan``);
:class:`~matt.models.specs.PurifierSpec` validates its ``encoder`` against it. Lives here, below
the specs and the modules, so neither imports the other's module to find it."""
