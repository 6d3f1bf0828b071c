"""MATT's defense, the torch reference: random patch-wise purification by a pool.

For each image and each patch, one purifier is drawn uniformly and independently from the pool.
All windows that drew the same purifier go through it in one batched call, so each window is
processed once whatever the pool size K: the encoder work per query does not grow with K.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from matt.core import EngineDraw, PatchPlan, extract_windows, group_by_engine, stitch_windows
from matt.defense.base import Defense
from matt.errors import SpecError


class RandomPatchPurifier(Defense):
    """Random patch-wise purification.

    Args:
        pool: the purifiers (any module mapping [0, 1] windows to [0, 1] windows).
        patch: patch size in pixels (clamped to the image).
        halo: context pixels around each patch; ``>= receptive_radius`` makes each patch
            exactly what its purifier would give on the whole image.
        seed: ``None`` draws from the OS CSPRNG; an integer makes the draws reproducible
            (evaluation only).
    """

    name = "matt"
    randomized = True

    def __init__(
        self, pool: Sequence[nn.Module], patch: int, halo: int, seed: int | None = None
    ) -> None:
        if not pool:
            raise SpecError("random patch purifier: the pool is empty")
        self.pool = list(pool)
        self.patch = patch
        self.halo = halo
        self.draw = EngineDraw(len(self.pool), seed)

    def plan_for(self, height: int, width: int) -> PatchPlan:
        return PatchPlan.for_patch(height, width, self.patch, self.halo)

    def _purify(self, images: torch.Tensor) -> torch.Tensor:
        plan = self.plan_for(images.shape[2], images.shape[3])
        windows = extract_windows(images, plan)
        engine_ids = self.draw.draw(windows.shape[0])
        purified = torch.empty_like(windows)
        for engine, indices in group_by_engine(engine_ids, len(self.pool)):
            picked = torch.from_numpy(indices).to(windows.device)
            purified[picked] = self.pool[engine](windows[picked])
        return stitch_windows(purified, plan, images.shape[0])
