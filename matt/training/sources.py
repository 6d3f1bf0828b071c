"""Where each dataset's pool-training images and held-out sets come from.

* ``fmnist``: a seeded subset of the Fashion-MNIST train split (true labels) to train on,
  a seeded subset of the test split to evaluate on.
* ``cifar10``: CIFAR-10's training set is not available offline, so the purifiers learn from
  natural 32×32 RGB crops of real photographs (:func:`matt.data.sample_natural_crops`),
  labelled by the classifier itself (the attacks push away from its own decision). They are
  evaluated on the 20 real CIFAR-10 test images inside foolbox (true labels) and on natural
  crops drawn with another seed that the classifier labels with softmax confidence
  ≥ ``confidence`` (its label taken as the reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from matt.errors import DataError
from matt.training.measures import batch_slices

HeldOut = dict[str, tuple[torch.Tensor, torch.Tensor]]


@dataclass
class DatasetSources:
    train_images: torch.Tensor
    train_labels: torch.Tensor
    held_out: HeldOut
    description: str


def _seeded_subset(count: int, available: int, seed: int) -> np.ndarray:
    if count > available:
        raise DataError(f"asked for {count} images, only {available} exist")
    return np.sort(np.random.default_rng(seed).permutation(available)[:count])


def fmnist_sources(train_count: int | None, eval_count: int, seed: int,
                   data_dir: Path | None = None) -> DatasetSources:
    """``train_count=None``: all 60 000 training images, in a seeded order (so a white-box
    subset taken from the front is a random one)."""
    from matt.data import load_fashion_mnist

    train = load_fashion_mnist("train", data_dir)
    test = load_fashion_mnist("test", data_dir)
    train_count = len(train) if train_count is None else train_count
    order = np.random.default_rng(seed).permutation(len(train))
    if train_count > len(train):
        raise DataError(f"asked for {train_count} images, only {len(train)} exist")
    train = train.subset(order[:train_count])
    test = test.subset(_seeded_subset(eval_count, len(test), seed + 1))
    return DatasetSources(
        torch.from_numpy(train.images), torch.from_numpy(train.labels),
        {"test": (torch.from_numpy(test.images), torch.from_numpy(test.labels))},
        f"Fashion-MNIST: {train_count} train-split images (seed {seed}); held out: "
        f"{eval_count} test-split images (seed {seed + 1})",
    )


@torch.no_grad()
def confidences(classifier: nn.Module, images: torch.Tensor, batch_size: int = 500
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels, softmax confidence) the classifier gives each image, ``batch_size`` at a time."""
    classifier.eval()
    labels, confidence = [torch.empty(0, dtype=torch.int64)], [torch.empty(0)]
    for part in batch_slices(len(images), batch_size):
        top = classifier(images[part]).softmax(dim=1).max(dim=1)
        labels.append(top.indices)
        confidence.append(top.values)
    return torch.cat(labels), torch.cat(confidence)


def confident_crops(classifier: nn.Module, photo_names: tuple[str, ...], count: int, side: int,
                    candidates: int, confidence: float, seed: int,
                    scales: tuple[int, ...] | None = None, batch_size: int = 500
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` crops of ``photo_names`` (from ``candidates`` per crop wanted) that the
    classifier labels with softmax confidence >= ``confidence``, and those labels."""
    from matt.data import sample_natural_crops

    extra = {} if scales is None else {"scales": scales}
    pool = torch.from_numpy(sample_natural_crops(candidates * count, side, seed=seed,
                                                 photo_names=photo_names, **extra))
    labels, values = confidences(classifier, pool, batch_size)
    confident = torch.nonzero(values >= confidence).flatten()[:count]
    if len(confident) < count:
        raise DataError(f"only {len(confident)} of {len(pool)} crops reach "
                        f"confidence {confidence}; lower --confidence or --eval-count")
    return pool[confident], labels[confident]


def cifar10_sources(classifier: nn.Module, train_count: int | None, eval_count: int, seed: int,
                    confidence: float = 0.9, data_dir: Path | None = None) -> DatasetSources:
    """Natural crops (or, with ``data_dir``, a real CIFAR-10 python folder's train split).

    Training crops come from the training photographs of :func:`matt.data.natural_crops.
    photo_split`, held-out crops from the other photographs, never from the same photo.
    """
    from matt.data import load_cifar10, load_foolbox_samples, sample_natural_crops
    from matt.data.natural_crops import photo_split

    train_photos, held_photos = photo_split()
    held_out: HeldOut = {}
    foolbox = load_foolbox_samples("cifar10")
    held_out["foolbox20"] = (torch.from_numpy(foolbox.images), torch.from_numpy(foolbox.labels))
    if data_dir is not None:
        train = load_cifar10(data_dir, "train")
        count = len(train) if train_count is None else train_count
        train = train.subset(_seeded_subset(count, len(train), seed))
        train_images, train_labels = torch.from_numpy(train.images), torch.from_numpy(
            train.labels)
        origin = f"{count} images of the CIFAR-10 train split in {data_dir} (seed {seed})"
    else:
        count = 20_000 if train_count is None else train_count
        train_images = torch.from_numpy(sample_natural_crops(count, 32, seed=seed,
                                                             photo_names=train_photos))
        train_labels, _ = confidences(classifier, train_images)
        origin = (f"{count} natural 32x32 RGB crops (seed {seed}) of {len(train_photos)} "
                  f"training photographs (matt.data.sample_natural_crops), labelled by the "
                  f"classifier")
    if eval_count:
        held_out["crops"] = confident_crops(classifier, held_photos, eval_count, 32, 8,
                                            confidence, seed + 1)
    return DatasetSources(
        train_images, train_labels, held_out,
        f"{origin}; held out: the 20 foolbox CIFAR-10 test images and {eval_count} crops "
        f"(seed {seed + 1}) of {len(held_photos)} other photographs that the classifier "
        f"labels with softmax confidence >= {confidence}",
    )
