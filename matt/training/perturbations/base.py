"""The family contract and its registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from matt.errors import SpecError


@dataclass(frozen=True)
class FamilyContext:
    """What a family may use: the radii of the threat model and the bare classifier.

    Attributes:
        epsilon: ℓ∞ radius in [0, 1] pixel units (8/255 on CIFAR-10, 0.1 on Fashion-MNIST).
        epsilon_l2: ℓ2 radius over a whole image of the dataset's size.
        classifier: the undefended classifier (white-box families only).
    """

    epsilon: float
    epsilon_l2: float
    classifier: nn.Module | None = None


class Family(ABC):
    """One kind of perturbation; :meth:`perturb` returns images inside [0, 1].

    Class attributes:
        name: registry name, used in mixes and metrics.
        cached: made once over the training set (costly, needs gradients) rather than per step.
        cache_chunk: images made between two writes of the cache.
        imitates: the query attack(s) whose submitted points the family stands for.
    """

    name: ClassVar[str]
    cached: ClassVar[bool] = False
    cache_chunk: ClassVar[int] = 100
    imitates: ClassVar[str] = ""

    def cache_key(self, epsilon: float) -> dict[str, object]:
        """What a cached set was made with: a cache with another key is refused."""
        return {"name": self.name, "epsilon": epsilon}

    @abstractmethod
    def perturb(self, clean: torch.Tensor, labels: torch.Tensor, context: FamilyContext,
                generator: torch.Generator) -> torch.Tensor:
        """Perturbed versions of ``clean`` (N, C, H, W) in [0, 1]."""


_FAMILIES: dict[str, Family] = {}


def register(cls: type[Family]) -> type[Family]:
    """Class decorator: add a family to the registry (a duplicate name is a bug)."""
    if cls.name in _FAMILIES:
        raise SpecError(f"perturbation family {cls.name!r} registered twice")
    _FAMILIES[cls.name] = cls()
    return cls


def family(name: str) -> Family:
    if name not in _FAMILIES:
        raise SpecError(f"unknown perturbation family {name!r}; known: {family_names()}")
    return _FAMILIES[name]


def family_names() -> tuple[str, ...]:
    return tuple(sorted(_FAMILIES))


def signs(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Uniform ±1 of ``shape``."""
    return torch.randint(0, 2, shape, generator=generator).float() * 2 - 1


def uniform(generator: torch.Generator, low: float = 0.0, high: float = 1.0,
            count: int = 1) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator)
