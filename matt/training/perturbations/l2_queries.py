"""ℓ2 points that SimBA, Boundary and HopSkipJump submit, inside the ℓ2 ball.

* ``simba``: SimBA's iterates, ±step along many random pixel-basis directions (Guo et al.,
  2019), so a few pixels carry large changes; total ℓ2 norm up to ε₂.
* ``l2``: a dense Gaussian direction scaled to a random norm up to ε₂, smoothed at a random
  scale (Boundary's and HopSkipJump's steps, and their low-frequency starts).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from matt.training.perturbations.base import Family, FamilyContext, register, signs


def _scale_to(delta: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    current = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * (norms / current).view(-1, 1, 1, 1)


def _norms(count: int, epsilon_l2: float, generator: torch.Generator) -> torch.Tensor:
    """Radii in [ε₂/4, ε₂], more of them near the edge where attacks end."""
    return epsilon_l2 * (0.25 + 0.75 * torch.rand(count, generator=generator).sqrt())


@register
class SimbaSteps(Family):
    name: ClassVar[str] = "simba"
    imitates: ClassVar[str] = "SimBA (pixel-basis steps)"

    def perturb(self, clean: torch.Tensor, labels: torch.Tensor, context: FamilyContext,
                generator: torch.Generator) -> torch.Tensor:
        count = len(clean)
        pixels = clean[0].numel()
        fraction = 0.01 + 0.2 * torch.rand((count, 1), generator=generator)
        chosen = (torch.rand((count, pixels), generator=generator) < fraction).float()
        delta = (chosen * signs((count, pixels), generator)).view_as(clean)
        delta = _scale_to(delta, _norms(count, context.epsilon_l2, generator))
        return (clean + delta).clamp(0.0, 1.0)


@register
class L2Steps(Family):
    name: ClassVar[str] = "l2"
    imitates: ClassVar[str] = "Boundary and HopSkipJump (dense ℓ2 steps)"

    def perturb(self, clean: torch.Tensor, labels: torch.Tensor, context: FamilyContext,
                generator: torch.Generator) -> torch.Tensor:
        count, _, height, width = clean.shape
        delta = torch.randn(clean.shape, generator=generator)
        factor = int(torch.randint(1, 5, (1,), generator=generator))
        if factor > 1:  # a smoother direction: noise at 1/factor resolution, upsampled
            coarse = F.avg_pool2d(delta, factor, ceil_mode=True)
            delta = F.interpolate(coarse, size=(height, width), mode="bilinear",
                                  align_corners=False)
        delta = _scale_to(delta, _norms(count, context.epsilon_l2, generator))
        return (clean + delta).clamp(0.0, 1.0)
