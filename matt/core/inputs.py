"""Validation of image batches at the edge of the runtime: float32 NCHW in [0, 1].

:func:`check_image_batch` is strict (the server's wire format); :func:`as_image_batch` is the
Python API's door, which also takes float64, uint8, one CHW image and torch tensors, and
converts them without ever casting a value out of range into it.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from matt.core.types import AnyArray, NDArray
from matt.errors import InputError

ACCEPTED = "float32 or float64 in [0, 1], or uint8 in 0..255"


def check_image_batch(
    images: Any,
    *,
    channels: int | None = None,
    height: int | None = None,
    width: int | None = None,
    max_batch: int | None = None,
) -> NDArray:
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


def _from_torch(images: Any) -> AnyArray | None:
    """A torch tensor as a numpy array on the host (``None`` when it is not a tensor); torch is
    looked up, never imported."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(images, torch.Tensor):
        return None
    if images.dtype not in (torch.float32, torch.float64, torch.uint8):
        raise InputError(f"images must be {ACCEPTED}, got a tensor of {images.dtype}")
    array: AnyArray = images.detach().cpu().numpy()
    return array


def as_image_batch(images: Any, input_shape: tuple[int, int, int]) -> tuple[NDArray, bool]:
    """What a user holds → (a checked float32 NCHW batch, whether it was one CHW image).

    uint8 is divided by 255; float64 is range-checked before it becomes float32, so a value
    outside [0, 1] is refused, never rounded into it.

    Raises:
        InputError: another type or dtype, a wrong shape, NaN or inf, values out of range.
    """
    array = _from_torch(images)
    if array is None:
        if not isinstance(images, np.ndarray):
            raise InputError(f"images must be a numpy array or a torch tensor ({ACCEPTED}), "
                             f"got {type(images).__name__}")
        array = images
    single = array.ndim == 3
    if single:
        array = array[np.newaxis]
    channels, height, width = input_shape
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / np.float32(255.0)
    elif array.dtype == np.float64:
        if array.ndim == 4 and array.size:
            _check_values(array)
        array = array.astype(np.float32)
    elif array.dtype != np.float32:
        raise InputError(f"images must be {ACCEPTED}, got {array.dtype}")
    batch = check_image_batch(array, channels=channels, height=height, width=width)
    return batch, single


def _check_values(images: AnyArray) -> None:
    if not np.isfinite(images).all():
        raise InputError("images contain NaN or inf")
    low, high = float(images.min()), float(images.max())
    if low < 0.0 or high > 1.0:
        raise InputError(f"images must lie in [0, 1], got values in [{low:.4g}, {high:.4g}]")
