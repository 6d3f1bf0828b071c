"""Purifier encoders: EDSR and RCAN bodies, registered by name.

Both are stride-1 and fully convolutional, so their output grid equals their input grid and the
context they see is bounded (:func:`matt.models.layers.receptive_radius`). RCAN's channel
attention pools over a local window rather than the whole image: a global pool would make every
pixel depend on the whole image and patch-wise purification could never equal whole-image
purification.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from matt.models.layers import conv3x3
from matt.models.registry import ENCODERS
from matt.models.specs import PurifierSpec

__all__ = ["ENCODERS", "AttentionBlock", "EdsrEncoder", "LocalChannelAttention", "RcanEncoder",
           "ResidualBlock"]


class ResidualBlock(nn.Module):
    """EDSR's block: conv → ReLU → conv, added to the input (no batch norm)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(features, features), nn.ReLU(inplace=True),
                                  conv3x3(features, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class LocalChannelAttention(nn.Module):
    """RCAN's channel attention with a ``window``×``window`` average instead of a global one."""

    def __init__(self, features: int, reduction: int, window: int) -> None:
        super().__init__()
        squeezed = max(1, features // reduction)
        self.pool = nn.AvgPool2d(window, stride=1, padding=window // 2, count_include_pad=False)
        self.gate = nn.Sequential(
            nn.Conv2d(features, squeezed, 1), nn.ReLU(inplace=True),
            nn.Conv2d(squeezed, features, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.pool(x))


class AttentionBlock(nn.Module):
    """RCAN's residual channel-attention block (RCAB)."""

    def __init__(self, features: int, reduction: int, window: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(features, features), nn.ReLU(inplace=True), conv3x3(features, features),
            LocalChannelAttention(features, reduction, window),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Encoder(nn.Module):
    """Head conv, residual blocks, a closing conv and a long skip (EDSR's layout)."""

    def __init__(self, channels: int, features: int, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.head = conv3x3(channels, features)
        self.body = nn.Sequential(*blocks, conv3x3(features, features))
        self.out_features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head(x)
        return head + self.body(head)


@ENCODERS.register("edsr")
class EdsrEncoder(_Encoder):
    def __init__(self, spec: PurifierSpec) -> None:
        blocks = [ResidualBlock(spec.features) for _ in range(spec.blocks)]
        super().__init__(spec.channels, spec.features, blocks)


@ENCODERS.register("rcan")
class RcanEncoder(_Encoder):
    def __init__(self, spec: PurifierSpec) -> None:
        blocks = [
            AttentionBlock(spec.features, spec.attention_reduction, spec.attention_window)
            for _ in range(spec.blocks)
        ]
        super().__init__(spec.channels, spec.features, blocks)
