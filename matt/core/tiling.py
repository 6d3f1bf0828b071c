"""Patch grid with a halo of context pixels, for numpy arrays and torch tensors alike.

An image of H×W is cut into patches of ``patch_h × patch_w``. Each patch is purified inside a
*window* that adds ``halo`` context pixels on every side; only the patch's interior is kept.
The image is first padded by ``halo`` with edge replication, the same border the whole-image
reference sees (:func:`matt.models.purify_whole`), so with ``halo >= receptive_radius`` patch-wise
purification by one purifier equals whole-image purification exactly.

Sizes that do not divide: the last patch of a row or column is shifted back so it ends at the
image edge; it overlaps its neighbour, and each output pixel is *owned* by exactly one patch.
Every window therefore has the same shape, so windows batch into one call per purifier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from matt.errors import SpecError


def _starts(length: int, patch: int) -> tuple[int, ...]:
    count = math.ceil(length / patch)
    return tuple(min(i * patch, length - patch) for i in range(count))


@dataclass(frozen=True)
class PatchPlan:
    """Where each patch and its window lie, in pixels, for one image size.

    Attributes:
        height, width: the image size in pixels.
        patch_h, patch_w: the patch size in pixels (clamped to the image size).
        halo: context pixels added on every side of a patch.
    """

    height: int
    width: int
    patch_h: int
    patch_w: int
    halo: int

    def __post_init__(self) -> None:
        for name in ("height", "width", "patch_h", "patch_w"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SpecError(f"patch plan: {name} must be a positive integer, got {value!r}")
        if not isinstance(self.halo, int) or self.halo < 0:
            raise SpecError(f"patch plan: halo must be an integer >= 0, got {self.halo!r}")
        if self.patch_h > self.height or self.patch_w > self.width:
            raise SpecError(
                f"patch plan: patch {self.patch_h}x{self.patch_w} is larger than the image "
                f"{self.height}x{self.width}; use PatchPlan.for_patch, which clamps"
            )

    @classmethod
    def for_patch(
        cls, height: int, width: int, patch: int | tuple[int, int], halo: int
    ) -> PatchPlan:
        """Plan by patch size in pixels; a patch larger than the image is clamped to it."""
        patch_h, patch_w = (patch, patch) if isinstance(patch, int) else patch
        if patch_h < 1 or patch_w < 1:
            raise SpecError(f"patch plan: patch size must be >= 1 pixel, got {patch!r}")
        return cls(height, width, min(patch_h, height), min(patch_w, width), halo)

    @classmethod
    def for_grid(
        cls, height: int, width: int, grid: int | tuple[int, int], halo: int
    ) -> PatchPlan:
        """Plan by number of patches per side (``grid=4`` gives about 4×4 patches)."""
        rows, cols = (grid, grid) if isinstance(grid, int) else grid
        if rows < 1 or cols < 1:
            raise SpecError(f"patch plan: grid must be >= 1 patch per side, got {grid!r}")
        patch = (math.ceil(height / rows), math.ceil(width / cols))
        return cls.for_patch(height, width, patch, halo)

    @property
    def row_starts(self) -> tuple[int, ...]:
        return _starts(self.height, self.patch_h)

    @property
    def col_starts(self) -> tuple[int, ...]:
        return _starts(self.width, self.patch_w)

    @property
    def patches_per_image(self) -> int:
        return len(self.row_starts) * len(self.col_starts)

    @property
    def window_shape(self) -> tuple[int, int]:
        """Height and width of every window: the patch plus the halo on both sides."""
        return self.patch_h + 2 * self.halo, self.patch_w + 2 * self.halo

    @property
    def pixels_processed(self) -> int:
        """Pixels the purifiers process per image: every window, halo included."""
        window_h, window_w = self.window_shape
        return self.patches_per_image * window_h * window_w

    def owned_regions(self) -> list[tuple[slice, slice, slice, slice]]:
        """For each patch (row-major): image rows, image cols, and the same region in the patch."""
        regions = []
        rows = _owned(self.row_starts, self.patch_h, self.height)
        cols = _owned(self.col_starts, self.patch_w, self.width)
        for img_r, patch_r in rows:
            for img_c, patch_c in cols:
                regions.append((img_r, img_c, patch_r, patch_c))
        return regions


def _owned(starts: tuple[int, ...], patch: int, length: int) -> list[tuple[slice, slice]]:
    owned = []
    for i, start in enumerate(starts):
        own_start = i * patch
        own_end = min(own_start + patch, length)
        owned.append(
            (slice(own_start, own_end), slice(own_start - start, own_end - start))
        )
    return owned


def _is_numpy(x: Any) -> bool:
    return isinstance(x, np.ndarray)


def _pad_edge(x: Any, halo: int) -> Any:
    if halo == 0:
        return x
    if _is_numpy(x):
        return np.pad(x, ((0, 0), (0, 0), (halo, halo), (halo, halo)), mode="edge")
    import torch.nn.functional as F

    return F.pad(x, (halo, halo, halo, halo), mode="replicate")


def extract_windows(images: Any, plan: PatchPlan) -> Any:
    """Cut an NCHW batch into windows, image-major then row-major: shape (N·P, C, wh, ww)."""
    if tuple(images.shape[-2:]) != (plan.height, plan.width):
        raise SpecError(
            f"patch plan is for {plan.height}x{plan.width} images, got {tuple(images.shape[-2:])}"
        )
    padded = _pad_edge(images, plan.halo)
    win_h, win_w = plan.window_shape
    windows = [
        padded[:, :, top : top + win_h, left : left + win_w]
        for top in plan.row_starts
        for left in plan.col_starts
    ]
    if _is_numpy(images):
        stacked = np.stack(windows, axis=1)
    else:
        import torch

        stacked = torch.stack(windows, dim=1)
    return stacked.reshape(-1, images.shape[1], win_h, win_w)


def stitch_windows(windows: Any, plan: PatchPlan, batch: int) -> Any:
    """Put the purified windows back: keep each patch's interior, owned pixels only."""
    channels = windows.shape[1]
    per_image = plan.patches_per_image
    if windows.shape[0] != batch * per_image:
        raise SpecError(f"expected {batch * per_image} windows, got {windows.shape[0]}")
    halo = plan.halo
    interiors = windows[:, :, halo : halo + plan.patch_h, halo : halo + plan.patch_w]
    interiors = interiors.reshape(batch, per_image, channels, plan.patch_h, plan.patch_w)
    shape = (batch, channels, plan.height, plan.width)
    out: Any  # a numpy array or a torch tensor, as the windows are
    if _is_numpy(windows):
        out = np.empty(shape, dtype=windows.dtype)
    else:
        import torch

        out = torch.empty(shape, dtype=windows.dtype, device=windows.device)
    for index, (img_r, img_c, patch_r, patch_c) in enumerate(plan.owned_regions()):
        out[:, :, img_r, img_c] = interiors[:, index, :, patch_r, patch_c]
    return out
