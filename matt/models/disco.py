"""The DISCO reference (Ho & Vasconcelos, 2022): MATT's predecessor, kept as the baseline.

A LIIF purifier that decodes by querying pixel coordinates: for each query it fetches the
nearest 3×3-unfolded feature, appends the relative coordinate and the cell size, runs an MLP,
and with *local ensemble* does so for the four neighbouring features and blends them by area.
The DISCO ensemble runs K encoders on the whole image, so its cost grows with K; one model,
drawn at random, decodes. Both run on the CPU; neither is meant for export.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from matt.errors import SpecError
from matt.models.encoders import EdsrEncoder
from matt.models.layers import normalize
from matt.models.specs import PurifierSpec, spec_from_dict


@dataclass(frozen=True)
class DiscoSpec:
    """DISCO's official shape: EDSR-baseline encoder (16 blocks × 64) and a 4×256 MLP."""

    features: int = 64
    blocks: int = 16
    hidden: tuple[int, ...] = (256, 256, 256, 256)
    channels: int = 3
    local_ensemble: bool = True

    def __post_init__(self) -> None:
        if self.features < 1 or self.blocks < 0 or self.channels < 1 or not self.hidden:
            raise SpecError(f"disco spec: invalid sizes {self}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        return data

    @classmethod
    def from_dict(cls, data: object) -> DiscoSpec:
        return spec_from_dict(cls, data, "disco spec")


def _pixel_centres(height: int, width: int, device: torch.device) -> torch.Tensor:
    """(H, W, 2) pixel-centre coordinates (y, x) in [-1, 1], as LIIF defines them."""
    ys = (torch.arange(height, device=device) * 2 + 1) / height - 1
    xs = (torch.arange(width, device=device) * 2 + 1) / width - 1
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)


class LiifPurifier(nn.Module):
    """DISCO's LIIF purifier, decoding on the input's own pixel grid."""

    def __init__(self, spec: DiscoSpec) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = EdsrEncoder(
            PurifierSpec(encoder="edsr", features=spec.features, blocks=spec.blocks,
                         channels=spec.channels)
        )
        widths = [spec.features * 9 + 4, *spec.hidden]
        layers: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise(widths):
            layers += [nn.Linear(width_in, width_out), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(widths[-1], spec.channels))
        self.mlp = nn.Sequential(*layers)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(normalize(images))

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Query every pixel centre of the feature grid; returns images in [0, 1]."""
        batch, depth, height, width = features.shape
        unfolded = F.unfold(features, 3, padding=1).view(batch, depth * 9, height, width)
        queries = _pixel_centres(height, width, features.device).view(1, -1, 2)
        feature_coords = _pixel_centres(height, width, features.device).permute(2, 0, 1)
        feature_coords = feature_coords.unsqueeze(0).expand(batch, 2, height, width)
        half_y, half_x, eps = 1 / height, 1 / width, 1e-6
        cell = torch.tensor([2 / height * height, 2 / width * width], device=features.device)
        shifts = [(-1, -1), (-1, 1), (1, -1), (1, 1)] if self.spec.local_ensemble else [(0, 0)]
        predictions, areas = [], []
        for shift_y, shift_x in shifts:
            shifted = queries.clone()
            shifted[..., 0] += shift_y * half_y + eps
            shifted[..., 1] += shift_x * half_x + eps
            shifted = shifted.clamp(-1 + 1e-6, 1 - 1e-6)
            grid = shifted.flip(-1).unsqueeze(1).expand(batch, 1, -1, 2)
            sampled = F.grid_sample(unfolded, grid, mode="nearest", align_corners=False)
            sampled = sampled[:, :, 0, :].permute(0, 2, 1)
            nearest = F.grid_sample(feature_coords, grid, mode="nearest", align_corners=False)
            nearest = nearest[:, :, 0, :].permute(0, 2, 1)
            relative = (queries - nearest) * torch.tensor([height, width], device=features.device)
            inputs = torch.cat([sampled, relative, cell.expand(batch, relative.shape[1], 2)], -1)
            decoded = self.mlp(inputs.reshape(-1, inputs.shape[-1]))
            predictions.append(decoded.view(batch, -1, self.spec.channels))
            areas.append((relative[..., 0] * relative[..., 1]).abs() + 1e-9)
        if len(areas) == 4:  # each prediction is weighted by the area of the opposite corner
            areas = [areas[3], areas[2], areas[1], areas[0]]
        total = torch.stack(areas).sum(0)
        weights = [(area / total).unsqueeze(-1) for area in areas]
        blended = sum(p * w for p, w in zip(predictions, weights, strict=True))
        out = blended.permute(0, 2, 1).reshape(batch, self.spec.channels, height, width)
        return torch.clamp(out * 0.5 + 0.5, 0.0, 1.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))


class DiscoEnsemble(nn.Module):
    """K LIIF purifiers: all K encode the whole image, one drawn at random decodes.

    The draw is per call, from the OS CSPRNG unless ``generator`` is given.
    """

    def __init__(self, members: list[LiifPurifier], generator: torch.Generator | None = None):
        super().__init__()
        if not members:
            raise SpecError("disco ensemble: needs at least one member")
        self.members = nn.ModuleList(members)
        self.generator = generator

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        members: list[LiifPurifier] = list(self.members)  # type: ignore[arg-type]
        features = [member.encode(images) for member in members]
        if self.generator is None:
            chosen = secrets.randbelow(len(self.members))
        else:
            chosen = int(torch.randint(len(self.members), (1,), generator=self.generator))
        return members[chosen].decode(features[chosen])
