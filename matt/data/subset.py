"""The paper's evaluation subset: balanced over classes, only images the classifier gets right."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from matt.errors import DataError


def balanced_correct_subset(
    images: np.ndarray,
    labels: np.ndarray,
    predict_fn: Callable[[np.ndarray], np.ndarray],
    per_class: int,
    seed: int | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Indices of ``per_class`` correctly classified images of every class, class by class.

    Attacks are scored only on images the undefended classifier labels right, so a robust
    accuracy measures the defense, not the classifier's clean errors. Images are visited in a
    seeded random order and classified in batches until every class is full, so a large set
    costs only as many predictions as needed.

    Args:
        images: (N, C, H, W) in [0, 1].
        labels: (N,) true class indices.
        predict_fn: a batch of images → predicted labels (N,) or scores (N, classes).
        per_class: images wanted of each class present in ``labels``.
        seed: fixes the visiting order; ``None`` draws from OS entropy.
        batch_size: images per ``predict_fn`` call.

    Returns:
        int64 indices into ``images``, grouped by class in ascending class order.
    """
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise DataError(f"{len(images)} images but {len(labels)} labels; they must match")
    if not isinstance(per_class, int) or per_class < 1:
        raise DataError(f"per_class must be a positive integer, got {per_class!r}")
    classes = np.unique(labels)
    chosen: dict[int, list[int]] = {int(c): [] for c in classes}
    order = np.random.default_rng(seed).permutation(len(labels))
    for start in range(0, len(order), batch_size):
        batch = order[start: start + batch_size]
        predicted = _as_labels(predict_fn(images[batch]), len(batch))
        for index, guess in zip(batch, predicted, strict=True):
            truth = int(labels[index])
            if guess == truth and len(chosen[truth]) < per_class:
                chosen[truth].append(int(index))
        if all(len(found) == per_class for found in chosen.values()):
            break
    short = {c: len(found) for c, found in chosen.items() if len(found) < per_class}
    if short:
        raise DataError(
            f"only {short} correctly classified images (class: count) for {per_class} per "
            "class; lower per_class or use more images"
        )
    return np.asarray([i for c in sorted(chosen) for i in chosen[c]], dtype=np.int64)


def _as_labels(predictions: object, expected: int) -> np.ndarray:
    array = np.asarray(predictions)
    if array.ndim == 2:
        array = array.argmax(axis=1)
    if array.shape != (expected,):
        raise DataError(
            f"predict_fn returned shape {array.shape} for {expected} images; "
            "it must return labels (N,) or scores (N, classes)"
        )
    return array.astype(np.int64)
