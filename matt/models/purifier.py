"""The MATT purifier: LIIF's encoder and query decoder, made fully convolutional.

With the output grid equal to the input grid, LIIF's decoder without positional encoding and
without local ensemble is exactly: a 3×3 conv over the features (the 3×3 unfold + first Linear),
ReLU, 1×1 convs, a 1×1 conv to the image channels. It exports to ONNX and TensorRT without
``grid_sample``. The decoder predicts a correction added to the input (in the normalised range),
so a fresh purifier starts near the identity; the output is clamped to [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from matt.models.layers import liif_decoder, normalize
from matt.models.registry import ENCODERS
from matt.models.specs import PurifierSpec


class Purifier(nn.Module):
    """Images in [0, 1], NCHW, any H×W → purified images of the same shape, in [0, 1]."""

    def __init__(self, spec: PurifierSpec) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = ENCODERS.get(spec.encoder)(spec)
        self.decoder = liif_decoder(spec.features, spec.decoder_widths, spec.channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        correction = self.decoder(self.encoder(normalize(images)))
        return torch.clamp(images + 0.5 * correction, 0.0, 1.0)


def build_purifier(spec: PurifierSpec) -> Purifier:
    """The one public factory for purifiers."""
    return Purifier(spec)


def purify_whole(purifier: nn.Module, images: torch.Tensor, pad: int) -> torch.Tensor:
    """Whole-image reference: pad by ``pad`` with edge replication, purify, crop back.

    With ``pad >= receptive_radius`` the image border sees the same context as a patch window
    cut by :mod:`matt.core.tiling` with ``halo >= receptive_radius``.
    """
    if pad == 0:
        return purifier(images)
    padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    return purifier(padded)[:, :, pad:-pad, pad:-pad]
