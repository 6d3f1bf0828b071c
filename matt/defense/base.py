"""The defense contract: images in [0, 1] NCHW in, purified images of the same shape out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from matt.errors import InputError


def check_image_tensor(images: object) -> torch.Tensor:
    """Refuse anything but a finite float32 NCHW tensor in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise InputError(f"images must be a torch tensor, got {type(images).__name__}")
    if images.dtype != torch.float32:
        raise InputError(f"images must be float32, got {images.dtype}")
    if images.dim() != 4 or images.shape[0] == 0:
        raise InputError(f"images must be a non-empty NCHW batch, got shape {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise InputError("images contain NaN or inf")
    if images.min() < 0 or images.max() > 1:
        raise InputError("images must lie in [0, 1]")
    return images


class Defense(ABC):
    """A pre-processor placed in front of the classifier.

    Subclasses write :meth:`_purify`; the base validates the input and runs without gradients.
    ``randomized`` says whether two calls on the same input may differ.
    """

    name: ClassVar[str]
    randomized: ClassVar[bool]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        check_image_tensor(images)
        with torch.inference_mode():
            return self._purify(images)

    @abstractmethod
    def _purify(self, images: torch.Tensor) -> torch.Tensor: ...
