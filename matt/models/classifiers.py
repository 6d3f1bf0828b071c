"""Target classifiers (the "MLaaS model" being defended), registered by arch name.

Every classifier takes images in [0, 1], NCHW, and returns logits; any normalisation the
weights expect happens inside the module.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from matt.models.efficientnet import ARCH as EFFICIENTNET_ARCH
from matt.models.efficientnet import EfficientNetLite0
from matt.models.keras_cnn import ARCH as KERAS_CIFAR_ARCH
from matt.models.keras_cnn import KerasCifarCnn
from matt.models.registry import Registry
from matt.models.specs import ClassifierSpec

CLASSIFIERS: Registry[Callable[[ClassifierSpec], nn.Module]] = Registry("classifier")


def build_classifier(spec: ClassifierSpec) -> nn.Module:
    """The one public factory for classifiers."""
    return CLASSIFIERS.get(spec.arch)(spec)


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3×3 convs with batch norm, projection when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """A small three-stage ResNet for 28×28 or 32×32 images (widths w, 2w, 4w)."""

    def __init__(self, spec: ClassifierSpec) -> None:
        super().__init__()
        width = spec.width
        self.stem = nn.Sequential(
            nn.Conv2d(spec.channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        in_channels = width
        for stage, out_channels in enumerate((width, 2 * width, 4 * width)):
            for block in range(spec.blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                stages.append(BasicBlock(in_channels, out_channels, stride))
                in_channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(in_channels, spec.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.stages(self.stem((images - 0.5) / 0.5))
        return self.head(features.mean(dim=(2, 3)))


@CLASSIFIERS.register("resnet")
def _resnet(spec: ClassifierSpec) -> nn.Module:
    return ResNet(spec)


CLASSIFIERS.register(KERAS_CIFAR_ARCH)(KerasCifarCnn)
CLASSIFIERS.register(EFFICIENTNET_ARCH)(EfficientNetLite0)
