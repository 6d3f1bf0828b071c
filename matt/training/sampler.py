"""Drawing a training step's crops from a mix of perturbation families.

Cached families (white-box attacks, made once against the classifier) cover the first
``len(cached[name])`` training images; random families perturb any training image afresh at
every step, so they never repeat. A step's crops are aligned windows of (perturbed, clean)
pairs, randomly flipped: the purifier is fully convolutional and served on patches anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from matt.errors import DataError
from matt.training.mixes import Mix
from matt.training.perturbations import FamilyContext, family


@dataclass
class PairSampler:
    """Clean images (N, C, H, W) in [0, 1], their labels, cached perturbed sets by family."""

    clean: torch.Tensor
    labels: torch.Tensor
    cached: dict[str, torch.Tensor]
    mix: Mix
    context: FamilyContext

    def __post_init__(self) -> None:
        for name in self.mix.families:
            if family(name).cached and name not in self.cached:
                raise DataError(f"mix {self.mix.name}: no cached {name} pairs in this run")
            if name in self.cached and self.cached[name].shape[1:] != self.clean.shape[1:]:
                raise DataError(f"cached {name} images are {tuple(self.cached[name].shape)}, "
                                f"the clean ones {tuple(self.clean.shape)}")

    def pairs(self, count: int, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """``count`` whole (perturbed, clean) image pairs and the family of each."""
        shares = torch.tensor([share for _, share in self.mix.shares])
        picks = torch.multinomial(shares, count, replacement=True, generator=generator)
        perturbed, clean, names = [], [], []
        for position, name in enumerate(self.mix.families):
            wanted = int((picks == position).sum())
            if not wanted:
                continue
            available = len(self.cached[name]) if name in self.cached else len(self.clean)
            indices = torch.randint(0, available, (wanted,), generator=generator)
            originals = self.clean[indices]
            if name in self.cached:
                perturbed.append(self.cached[name][indices])
            else:
                perturbed.append(family(name).perturb(originals, self.labels[indices],
                                                      self.context, generator))
            clean.append(originals)
            names.extend([name] * wanted)
        return torch.cat(perturbed), torch.cat(clean), names

    def crops(self, count: int, crop: int, flip: bool, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` aligned random crops of fresh pairs, for one training step."""
        perturbed, clean, _ = self.pairs(count, generator)
        return aligned_crops(perturbed, clean, crop, flip, generator)


def aligned_crops(perturbed: torch.Tensor, clean: torch.Tensor, crop: int, flip: bool,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One random window per pair, the same in both images, flipped at random."""
    count, _, height, width = clean.shape
    crop_h, crop_w = min(crop, height), min(crop, width)
    tops = torch.randint(0, height - crop_h + 1, (count,), generator=generator)
    lefts = torch.randint(0, width - crop_w + 1, (count,), generator=generator)
    flips = torch.rand(count, generator=generator) < 0.5
    stacked = torch.stack([perturbed, clean], dim=1)
    windows = []
    for index, (top, left, flipped) in enumerate(zip(tops.tolist(), lefts.tolist(),
                                                     flips.tolist(), strict=True)):
        window = stacked[index, :, :, top:top + crop_h, left:left + crop_w]
        windows.append(window.flip(3) if flip and flipped else window)
    pairs = torch.stack(windows)
    return pairs[:, 0], pairs[:, 1]
