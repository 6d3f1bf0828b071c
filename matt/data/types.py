"""What every reader returns: images in [0, 1] NCHW float32, labels int64, class names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matt.errors import DataError


@dataclass(frozen=True)
class LabelledImages:
    """A labelled image set, ready for a classifier or a purifier.

    Attributes:
        images: (N, C, H, W) float32 in [0, 1].
        labels: (N,) int64 class indices.
        class_names: names by class index; empty where the source has none.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.float32:
            raise DataError(
                f"images must be float32 NCHW, got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.ndim != 1 or self.labels.dtype != np.int64:
            raise DataError(f"labels must be int64 (N,), got {self.labels.dtype} "
                            f"{self.labels.shape}")
        if len(self.images) != len(self.labels):
            raise DataError(
                f"{len(self.images)} images but {len(self.labels)} labels; they must match"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> LabelledImages:
        """The images and labels at ``indices``, same class names."""
        return LabelledImages(self.images[indices], self.labels[indices], self.class_names)


def to_unit_nchw(pixels: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) → float32 (N, C, H, W) in [0, 1]."""
    if pixels.ndim == 3:
        pixels = pixels[:, :, :, None]
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
