"""Specs are data: validated on construction, saved beside the weights, printed in manifests."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from matt.errors import SpecError
from matt.models.registry import ENCODERS


def _positive(owner: str, name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"{owner}: {name} must be a positive integer, got {value!r}")


def spec_from_dict(cls: type, data: object, owner: str) -> Any:
    """Build a spec dataclass from a plain dict (a manifest or ``weights.pt`` entry)."""
    if not isinstance(data, dict):
        raise SpecError(f"{owner}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"{owner}: unknown fields {unknown}; known: {sorted(known)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**values)


@dataclass(frozen=True)
class PurifierSpec:
    """A fully convolutional local-implicit purifier.

    Attributes:
        encoder: ``edsr`` or ``rcan`` body.
        features: feature depth of the encoder (the paper uses 32 and 64).
        blocks: residual blocks in the encoder.
        decoder_widths: widths of the decoder: the first follows a 3×3 conv (LIIF's 3×3 feature
            unfold + first Linear), the rest are 1×1 convs; a last 1×1 conv gives the channels.
        channels: image channels in and out (3 RGB, 1 grey).
        attention_window: RCAN only: the local pooling window of channel attention, in pixels.
        attention_reduction: RCAN only: the squeeze ratio of channel attention.
    """

    encoder: str = "edsr"
    features: int = 32
    blocks: int = 2
    decoder_widths: tuple[int, ...] = (64,)
    channels: int = 3
    attention_window: int = 5
    attention_reduction: int = 8

    def __post_init__(self) -> None:
        owner = "purifier spec"
        if self.encoder not in ENCODERS:
            raise SpecError(f"{owner}: encoder must be one of {', '.join(ENCODERS.names())}, "
                            f"not {self.encoder!r}")
        for name in ("features", "channels", "attention_reduction"):
            _positive(owner, name, getattr(self, name))
        if not isinstance(self.blocks, int) or self.blocks < 0:
            raise SpecError(f"{owner}: blocks must be an integer >= 0, got {self.blocks!r}")
        if not isinstance(self.decoder_widths, tuple) or not self.decoder_widths:
            raise SpecError(f"{owner}: decoder_widths must be a non-empty tuple of widths")
        for width in self.decoder_widths:
            _positive(owner, "decoder width", width)
        _positive(owner, "attention_window", self.attention_window)
        if self.attention_window % 2 == 0:
            raise SpecError(f"{owner}: attention_window must be odd, got {self.attention_window}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decoder_widths"] = list(self.decoder_widths)
        return data

    @classmethod
    def from_dict(cls, data: object) -> PurifierSpec:
        return spec_from_dict(cls, data, "purifier spec")

    @property
    def name(self) -> str:
        """A short label, e.g. ``edsr32x2``."""
        return f"{self.encoder}{self.features}x{self.blocks}"

    @property
    def receptive_radius(self) -> int:
        """Context pixels per side each output pixel depends on, computed from the built net."""
        from matt.models.layers import receptive_radius

        return receptive_radius(_meta_net(self))

    @property
    def macs_per_pixel(self) -> int:
        """Multiply-accumulates per pixel, computed from the built net."""
        from matt.models.layers import macs_per_pixel

        return macs_per_pixel(_meta_net(self))


def _meta_net(spec: PurifierSpec) -> Any:
    """The purifier's layers without weights (the meta device): its encoder from the registry
    and its decoder, as :class:`matt.models.purifier.Purifier` stacks them."""
    import torch
    from torch import nn

    from matt.models.layers import liif_decoder

    with torch.device("meta"):
        return nn.Sequential(ENCODERS.get(spec.encoder)(spec),
                             liif_decoder(spec.features, spec.decoder_widths, spec.channels))


@dataclass(frozen=True)
class ClassifierSpec:
    """A target classifier: images in [0, 1] NCHW → logits.

    Attributes:
        arch: a name registered in :data:`matt.models.classifiers.CLASSIFIERS`.
        num_classes: output classes.
        channels: image channels (3 RGB, 1 grey).
        width: base width (channels of the first stage), where the arch has one.
        blocks: residual blocks per stage, where the arch has them.
    """

    arch: str
    num_classes: int = 10
    channels: int = 3
    width: int = 32
    blocks: int = 2

    def __post_init__(self) -> None:
        owner = "classifier spec"
        if not isinstance(self.arch, str) or not self.arch:
            raise SpecError(f"{owner}: arch must be a registered name, got {self.arch!r}")
        for name in ("num_classes", "channels", "width", "blocks"):
            _positive(owner, name, getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> ClassifierSpec:
        return spec_from_dict(cls, data, "classifier spec")
