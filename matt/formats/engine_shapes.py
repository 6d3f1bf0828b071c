"""The input shapes a TensorRT engine must accept: one optimization profile per engine.

Pure arithmetic (no TensorRT), so it is tested without a GPU. The runtime sends a purifier the
windows (patch + 2·halo per side) that the random draw gave it: between 1 and every window of
the request batch. One profile therefore covers

* batch: 1 … ``max_images × patches per image``, tuned for the expected share of one engine,
  ``opt_images × patches per image / pool size``;
* height and width: 1 … image side + 2·halo (a patch of 1 pixel up to the whole image, with no
  halo up to the bundle's halo), tuned for the bundle's window.

The classifier sees whole images: batch 1 … ``max_images``, tuned for ``opt_images``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from matt.core import PatchPlan
from matt.errors import SpecError


@dataclass(frozen=True)
class ShapeRange:
    """min / opt / max NCHW shapes of one engine input, as TensorRT's profile takes them."""

    input_name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def __post_init__(self) -> None:
        if not len(self.min) == len(self.opt) == len(self.max):
            raise SpecError(f"{self.input_name}: min/opt/max shapes differ in rank")
        for low, mid, high in zip(self.min, self.opt, self.max, strict=True):
            if not 1 <= low <= mid <= high:
                raise SpecError(f"{self.input_name}: need 1 <= min <= opt <= max per dimension, "
                                f"got {self.min} / {self.opt} / {self.max}")

    def covers(self, shape: tuple[int, ...]) -> bool:
        """Whether an input of ``shape`` can run on the engine."""
        return len(shape) == len(self.min) and all(
            low <= value <= high for low, value, high in zip(self.min, shape, self.max, strict=True)
        )

    def covers_items(self, item_shape: tuple[int, ...]) -> bool:
        """Whether items of ``item_shape`` (the shape without the batch) fit the profile."""
        return len(item_shape) == len(self.min) - 1 and all(
            low <= value <= high
            for low, value, high in zip(self.min[1:], item_shape, self.max[1:], strict=True))

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``profile`` entry."""
        return {"input": self.input_name, "min": list(self.min), "opt": list(self.opt),
                "max": list(self.max)}

    @classmethod
    def from_dict(cls, data: object, where: str = "profile") -> ShapeRange:
        """Read a manifest's ``profile`` entry back; a malformed one is a :class:`SpecError`."""
        if not isinstance(data, dict):
            raise SpecError(f"{where}: expected a mapping with input, min, opt, max")
        try:
            return cls(str(data["input"]), *(tuple(int(v) for v in data[key])
                                             for key in ("min", "opt", "max")))
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"{where}: malformed shape range ({type(exc).__name__}: {exc})"
                            ) from None


def purifier_shape_range(input_shape: tuple[int, int, int], patch: int, halo: int,
                         pool_size: int, *, opt_images: int, max_images: int,
                         input_name: str = "images") -> ShapeRange:
    """The profile of one purifier engine for a bundle's image size, tiling and pool size."""
    if pool_size < 1:
        raise SpecError(f"pool size must be >= 1, got {pool_size}")
    channels, height, width = input_shape
    plan = PatchPlan.for_patch(height, width, patch, halo)
    window_h, window_w = plan.window_shape
    windows = plan.patches_per_image
    opt_batch = max(1, math.ceil(opt_images * windows / pool_size))
    return ShapeRange(
        input_name,
        min=(1, channels, 1, 1),
        opt=(opt_batch, channels, window_h, window_w),
        max=(max_images * windows, channels, height + 2 * halo, width + 2 * halo),
    )


def classifier_shape_range(input_shape: tuple[int, int, int], *, opt_images: int,
                           max_images: int, input_name: str = "images") -> ShapeRange:
    """The profile of the classifier engine: whole images, batch 1 … ``max_images``."""
    return ShapeRange(input_name, min=(1, *input_shape), opt=(opt_images, *input_shape),
                      max=(max_images, *input_shape))
