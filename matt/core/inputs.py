"""Validation of image batches at the edge of the runtime: float32 NCHW in [0, 1]."""

from __future__ import annotations

from typing import Any

import numpy as np

from matt.errors import InputError


def check_image_batch(
    images: Any,
    *,
    channels: int | None = None,
    height: int | None = None,
    width: int | None = None,
    max_batch: int | None = None,
) -> np.ndarray:
    """Return ``images`` as a C-contiguous float32 NCHW array, or raise :class:`InputError`.

    Refused: anything not a numpy array, another dtype, another rank or shape, an empty batch,
    NaN or inf, values outside [0, 1].
    """
    if not isinstance(images, np.ndarray):
        raise InputError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.float32:
        raise InputError(f"images must be float32, got {images.dtype}")
    if images.ndim != 4:
        raise InputError(f"images must be NCHW (4 dimensions), got shape {images.shape}")
    batch, chans, rows, cols = images.shape
    if batch == 0:
        raise InputError("images: the batch is empty")
    if max_batch is not None and batch > max_batch:
        raise InputError(f"images: batch of {batch} is over the limit of {max_batch}")
    for name, got, want in (("channels", chans, channels), ("height", rows, height),
                            ("width", cols, width)):
        if want is not None and got != want:
            raise InputError(f"images: expected {name} {want}, got {got} (shape {images.shape})")
    if not np.isfinite(images).all():
        raise InputError("images contain NaN or inf")
    low, high = float(images.min()), float(images.max())
    if low < 0.0 or high > 1.0:
        raise InputError(f"images must lie in [0, 1], got values in [{low:.4g}, {high:.4g}]")
    return np.ascontiguousarray(images)
