"""The baselines MATT is compared with, behind the same :class:`Defense` contract."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from matt.defense.base import Defense
from matt.errors import SpecError
from matt.models.purifier import purify_whole


def _torch_generator(seed: int | None) -> torch.Generator:
    """A torch generator seeded from ``seed``, or from the OS CSPRNG when there is none."""
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(8), "little"))
    return generator


class NoDefense(Defense):
    """The undefended classifier's input, unchanged."""

    name = "none"
    randomized = False

    def _purify(self, images: torch.Tensor) -> torch.Tensor:
        return images.clone()


class MedianSmoothing(Defense):
    """Local (median) smoothing, Xu et al. 2018: a ``kernel``² median, edges replicated."""

    name = "smoothing"
    randomized = False

    def __init__(self, kernel: int = 3) -> None:
        if kernel < 1 or kernel % 2 == 0:
            raise SpecError(f"median smoothing: kernel must be odd and >= 1, got {kernel}")
        self.kernel = kernel

    def _purify(self, images: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = images.shape
        pad = self.kernel // 2
        padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
        patches = F.unfold(padded, self.kernel).view(batch, channels, self.kernel**2, height, width)
        return patches.median(dim=2).values


class GaussianNoise(Defense):
    """Random noise defense, Qin et al. 2021: add N(0, σ²) noise, clip to [0, 1]."""

    name = "noise"
    randomized = True

    def __init__(self, sigma: float = 0.041, seed: int | None = None) -> None:
        if not sigma > 0:
            raise SpecError(f"gaussian noise: sigma must be > 0, got {sigma}")
        self.sigma = sigma
        self.seed = seed
        self.generator = _torch_generator(seed) if seed is not None else None

    def _purify(self, images: torch.Tensor) -> torch.Tensor:
        generator = self.generator or _torch_generator(None)
        noise = torch.randn(images.shape, generator=generator) * self.sigma
        return torch.clamp(images + noise.to(images.device), 0.0, 1.0)


class BitDepth(Defense):
    """Bit-depth reduction, Xu et al. 2018: quantise each value to ``bits`` bits."""

    name = "bitdepth"
    randomized = False

    def __init__(self, bits: int = 5) -> None:
        if not 1 <= bits <= 8:
            raise SpecError(f"bit depth: bits must be in 1..8, got {bits}")
        self.levels = 2**bits - 1

    def _purify(self, images: torch.Tensor) -> torch.Tensor:
        return torch.round(images * self.levels) / self.levels


class Jpeg(Defense):
    """JPEG compression, Raff et al. 2019: encode and decode each image at ``quality``."""

    name = "jpeg"
    randomized = False

    def __init__(self, quality: int = 75) -> None:
        if not 1 <= quality <= 95:
            raise SpecError(f"jpeg: quality must be in 1..95, got {quality}")
        self.quality = quality

    def _purify(self, images: torch.Tensor) -> torch.Tensor:
        arrays = (images.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
        decoded = []
        for array in arrays:
            picture = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
            buffer = io.BytesIO()
            picture.save(buffer, format="JPEG", quality=self.quality)
            back = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.float32) / 255
            decoded.append(back.reshape(array.shape))
        out = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2).contiguous()
        return out.to(images.device)


class DiscoDeterministic(Defense):
    """DISCO without randomness: one purifier on the whole image."""

    name = "disco"
    randomized = False

    def __init__(self, purifier: nn.Module, pad: int) -> None:
        self.purifier = purifier
        self.pad = pad

    def _purify(self, images: torch.Tensor) -> torch.Tensor:
        return purify_whole(self.purifier, images, self.pad)


class DiscoEnsembleDefense(Defense):
    """DISCO's randomness: every purifier of the pool runs on the whole image (cost K), and
    each pixel takes the output of one drawn at random."""

    name = "disco-ensemble"
    randomized = True

    def __init__(self, pool: Sequence[nn.Module], pad: int, seed: int | None = None) -> None:
        if not pool:
            raise SpecError("disco ensemble: the pool is empty")
        self.pool = list(pool)
        self.pad = pad
        self.generator = _torch_generator(seed) if seed is not None else None

    def _purify(self, images: torch.Tensor) -> torch.Tensor:
        outputs = torch.stack([purify_whole(m, images, self.pad) for m in self.pool])
        generator = self.generator or _torch_generator(None)
        batch, _, height, width = images.shape
        chosen = torch.randint(len(self.pool), (1, batch, 1, height, width), generator=generator)
        chosen = chosen.expand(1, *images.shape).to(images.device)
        return torch.gather(outputs, 0, chosen)[0]
