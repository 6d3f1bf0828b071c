"""What training reports: accuracy, PSNR and batched prediction, on [0, 1] NCHW tensors."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

Transform = Callable[[torch.Tensor], torch.Tensor]


def batch_slices(count: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, count, batch_size):
        yield slice(start, min(start + batch_size, count))


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 500,
            transform: Transform | None = None) -> torch.Tensor:
    """Labels ``model`` gives ``images`` (optionally after ``transform``), in eval mode."""
    was_training = model.training
    model.eval()
    labels = []
    for part in batch_slices(len(images), batch_size):
        batch = images[part] if transform is None else transform(images[part])
        labels.append(model(batch).argmax(dim=1))
    model.train(was_training)
    return torch.cat(labels) if labels else torch.empty(0, dtype=torch.int64)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             transform: Transform | None = None) -> float:
    """Fraction of ``images`` that ``model`` labels as ``labels``."""
    return float((predict(model, images, transform=transform) == labels).float().mean())


def psnr(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for [0, 1] images: mean over images of per-image PSNR."""
    squared_error = (images - reference).pow(2).flatten(1).mean(dim=1).clamp_min(1e-10)
    return float((10 * torch.log10(1.0 / squared_error)).mean())
