"""Pool-training images for ``imagenet``: 224² natural crops, or an ImageNet-layout folder.

ImageNet is not reachable offline. The purifiers are local (a 32² training crop sees all its
receptive field needs), so they learn from 224×224 crops of real photographs at three scales
(a 224-, 448- or 672-pixel window, area-averaged down), labelled by the classifier itself, as
``cifar10`` does at 32². The foolbox wheel's 20 ImageNet images are the evaluation images, so
no crop of them is ever trained on: they are removed from both photo lists (``matt-eval``
measures them; here each member's held-out metrics would cost ten 224² purifications per image
and family). The ``crops`` held-out set comes from the held-out photographs of
:func:`photo_split` only, kept where the classifier's softmax confidence reaches
``confidence``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from matt.errors import DataError
from matt.training.sources import DatasetSources, HeldOut, confidences, confident_crops

SIDE = 224
SCALES = (1, 2, 3)
DEFAULT_TRAIN_COUNT = 400
_BATCH = 16  # EfficientNet at 224²: keeps a forward pass's activations small
# Wallpaper crops rarely hold one ImageNet object (2 of 128 reach confidence 0.8), so many
# more candidates are drawn per held-out crop kept than cifar10's 8.
CANDIDATES_PER_CROP = 32


def _photo_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(training, held-out) photo names without the foolbox ImageNet samples."""
    from matt.data.natural_crops import photo_split

    train, held = photo_split()
    keep = [tuple(n for n in names if not n.startswith("foolbox.imagenet")) for names in
            (train, held)]
    return keep[0], keep[1]


def imagenet_sources(classifier: nn.Module, train_count: int | None, eval_count: int,
                     seed: int, confidence: float = 0.9, data_dir: Path | None = None
                     ) -> DatasetSources:
    """Training images (natural crops, or ``data_dir``'s ImageNet-layout tree with its labels)
    and the ``crops`` held-out set."""
    from matt.data import sample_natural_crops

    train_photos, held_photos = _photo_lists()
    count = DEFAULT_TRAIN_COUNT if train_count is None else train_count
    if data_dir is not None:
        from matt.data.imagenet_folder import load_imagenet_folder

        tree = load_imagenet_folder(data_dir, SIDE)
        if count > len(tree):
            raise DataError(f"asked for {count} images, {data_dir} holds {len(tree)}")
        order = np.sort(np.random.default_rng(seed).permutation(len(tree))[:count])
        tree = tree.subset(order)
        train_images, train_labels = torch.from_numpy(tree.images), torch.from_numpy(tree.labels)
        origin = f"{count} images of the ImageNet-layout folder {data_dir} (seed {seed})"
    else:
        train_images = torch.from_numpy(sample_natural_crops(
            count, SIDE, scales=SCALES, seed=seed, photo_names=train_photos))
        train_labels, _ = confidences(classifier, train_images, _BATCH)
        origin = (f"{count} natural {SIDE}x{SIDE} RGB crops at scales {SCALES} (seed {seed}) of "
                  f"{len(train_photos)} training photographs (no foolbox ImageNet sample), "
                  f"labelled by the classifier")
    held_out: HeldOut = {}
    if eval_count:
        held_out["crops"] = confident_crops(classifier, held_photos, eval_count, SIDE,
                                            CANDIDATES_PER_CROP, confidence, seed + 1,
                                            scales=SCALES, batch_size=_BATCH)
    return DatasetSources(
        train_images, train_labels, held_out,
        f"{origin}; held out: {eval_count} crops (seed {seed + 1}) of {len(held_photos)} other "
        f"photographs that the classifier labels with softmax confidence >= {confidence}",
    )
