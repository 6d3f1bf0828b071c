"""ℓ∞ points that score-based query attacks submit, without their search.

* ``stripes``: Square's start (±ε per column and channel) with 0–5 random ±ε squares on top,
  the iterates Square walks through (Andriushchenko et al., 2020, Alg. 1).
* ``squares``: 1–8 ±ε squares of every size on the clean image (Square's proposals at any
  stage of its schedule, p from 0.8 down to 1/(h·w)).
* ``vertices``: a sign at every pixel, the ℓ∞ ball's vertices (where ℓ∞ attacks end up).
* ``nes``: NES's probes, x + σu with Gaussian u at σ from 1e-3 to ε, and its signed iterates.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from matt.training.perturbations.base import Family, FamilyContext, register, signs


def _add_squares(delta: torch.Tensor, epsilon: float, generator: torch.Generator,
                 most: int, least: int = 0) -> torch.Tensor:
    """Overwrite ``least``..``most`` random squares of each image's δ with ±ε per channel."""
    count, channels, height, width = delta.shape
    side_max = min(height, width)
    for index in range(count):
        squares = int(torch.randint(least, most + 1, (1,), generator=generator))
        for _ in range(squares):
            side = int(torch.randint(1, side_max + 1, (1,), generator=generator))
            top = int(torch.randint(0, height - side + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - side + 1, (1,), generator=generator))
            value = signs((channels, 1, 1), generator) * epsilon
            delta[index, :, top:top + side, left:left + side] = value
    return delta


def _bounded(clean: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    return (clean + delta).clamp(0.0, 1.0)


@register
class Stripes(Family):
    name: ClassVar[str] = "stripes"
    imitates: ClassVar[str] = "Square (its ±ε stripe start and first squares)"

    def perturb(self, clean: torch.Tensor, labels: torch.Tensor, context: FamilyContext,
                generator: torch.Generator) -> torch.Tensor:
        count, channels, _, width = clean.shape
        delta = signs((count, channels, 1, width), generator) * context.epsilon
        delta = delta.expand_as(clean).clone()
        return _bounded(clean, _add_squares(delta, context.epsilon, generator, most=5))


@register
class Squares(Family):
    name: ClassVar[str] = "squares"
    imitates: ClassVar[str] = "Square (proposals at every size of its schedule)"

    def perturb(self, clean: torch.Tensor, labels: torch.Tensor, context: FamilyContext,
                generator: torch.Generator) -> torch.Tensor:
        delta = torch.zeros_like(clean)
        return _bounded(clean, _add_squares(delta, context.epsilon, generator, most=8, least=1))


@register
class Vertices(Family):
    name: ClassVar[str] = "vertices"
    imitates: ClassVar[str] = "ℓ∞ attacks at convergence (every pixel at ±ε)"

    def perturb(self, clean: torch.Tensor, labels: torch.Tensor, context: FamilyContext,
                generator: torch.Generator) -> torch.Tensor:
        return _bounded(clean, signs(tuple(clean.shape), generator) * context.epsilon)


@register
class NesProbes(Family):
    name: ClassVar[str] = "nes"
    imitates: ClassVar[str] = "NES (Gaussian probes around signed-gradient iterates)"

    def perturb(self, clean: torch.Tensor, labels: torch.Tensor, context: FamilyContext,
                generator: torch.Generator) -> torch.Tensor:
        count = len(clean)
        shape = (count, 1, 1, 1)
        # the iterate: a random sign pattern at a random fraction of the radius
        reach = torch.rand(shape, generator=generator) * context.epsilon
        iterate = signs(tuple(clean.shape), generator) * reach
        # the probe around it: σ log-uniform in [1e-3, ε]
        low, high = torch.log(torch.tensor(1e-3)), torch.log(torch.tensor(context.epsilon))
        sigma = torch.exp(low + (high - low) * torch.rand(shape, generator=generator))
        probe = sigma * torch.randn(clean.shape, generator=generator)
        delta = (iterate + probe).clamp(-context.epsilon, context.epsilon)
        return _bounded(clean, delta)
