"""Shared building blocks and the arithmetic that describes a fully convolutional net."""

from __future__ import annotations

import itertools

import torch
from torch import nn


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


def liif_decoder(in_features: int, widths: tuple[int, ...], channels: int) -> nn.Sequential:
    """LIIF's query decoder on the input grid: a 3×3 conv (the 3×3 unfold + first Linear),
    ReLU, 1×1 convs, a last 1×1 conv to the image channels."""
    layers: list[nn.Module] = [nn.Conv2d(in_features, widths[0], 3, padding=1), nn.ReLU()]
    for width_in, width_out in itertools.pairwise(widths):
        layers += [nn.Conv2d(width_in, width_out, 1), nn.ReLU()]
    layers.append(nn.Conv2d(widths[-1], channels, 1))
    return nn.Sequential(*layers)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] → [-1, 1], the purifiers' internal range."""
    return (images - 0.5) / 0.5


def receptive_radius(module: nn.Module) -> int:
    """Pixels of context each output pixel depends on, per side.

    Sums the radius of every stride-1 spatial kernel (convolutions, pooling windows) in the
    module: exact for the chain-with-residuals nets built here, where the longest path passes
    through every spatial layer.
    """
    radius = 0
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            kernel, dilation = layer.kernel_size[0], layer.dilation[0]
            radius += (kernel - 1) // 2 * dilation
        elif isinstance(layer, nn.AvgPool2d):
            size = layer.kernel_size
            radius += ((size if isinstance(size, int) else size[0]) - 1) // 2
    return radius


def macs_per_pixel(module: nn.Module) -> int:
    """Multiply-accumulates per output pixel of the stride-1 convolutions in the module."""
    total = 0
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            kh, kw = layer.kernel_size
            total += layer.in_channels * layer.out_channels * kh * kw // layer.groups
    return total
