"""The evaluation subset: balanced over classes, only correctly classified images."""

from __future__ import annotations

import numpy as np
import pytest

from matt.data.subset import balanced_correct_subset
from matt.errors import DataError


def make_set(count=300, classes=5, seed=0):
    """Images whose first pixel says whether a toy classifier gets them right (1) or not (0)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, count)
    images = np.zeros((count, 1, 2, 2), dtype=np.float32)
    images[:, 0, 0, 0] = rng.random(count) < 0.6
    images[:, 0, 0, 1] = labels
    return images, labels


def toy_predict(batch):
    truth = batch[:, 0, 0, 1].astype(np.int64)
    return np.where(batch[:, 0, 0, 0] > 0.5, truth, (truth + 1) % 5)


def test_balanced_and_correct():
    images, labels = make_set()
    chosen = balanced_correct_subset(images, labels, toy_predict, per_class=10, seed=0)
    assert chosen.dtype == np.int64 and len(chosen) == 50 and len(set(chosen.tolist())) == 50
    np.testing.assert_array_equal(np.bincount(labels[chosen]), np.full(5, 10))
    np.testing.assert_array_equal(toy_predict(images[chosen]), labels[chosen])
    assert (np.diff(labels[chosen]) >= 0).all()  # grouped by class


def test_seed_reproduces_and_changes_the_draw():
    images, labels = make_set()
    first = balanced_correct_subset(images, labels, toy_predict, 10, seed=1)
    np.testing.assert_array_equal(first, balanced_correct_subset(images, labels, toy_predict, 10,
                                                                 seed=1))
    assert set(first) != set(balanced_correct_subset(images, labels, toy_predict, 10, seed=2))


def test_scores_are_accepted_and_prediction_stops_early():
    images, labels = make_set(count=3000)
    seen = []

    def scores(batch):
        seen.append(len(batch))
        return np.eye(5)[toy_predict(batch)]

    chosen = balanced_correct_subset(images, labels, scores, 4, seed=0, batch_size=50)
    assert len(chosen) == 20
    assert sum(seen) < 3000  # it did not classify the whole set


def test_not_enough_correct_images_names_the_classes():
    images, labels = make_set(count=40)
    with pytest.raises(DataError, match="lower per_class"):
        balanced_correct_subset(images, labels, toy_predict, per_class=50, seed=0)


def test_bad_predict_fn_and_mismatch():
    images, labels = make_set(count=20)
    with pytest.raises(DataError, match="returned shape"):
        balanced_correct_subset(images, labels, lambda b: np.zeros(3), 1, seed=0)
    with pytest.raises(DataError, match="must match"):
        balanced_correct_subset(images, labels[:5], toy_predict, 1, seed=0)
    with pytest.raises(DataError, match="per_class"):
        balanced_correct_subset(images, labels, toy_predict, 0, seed=0)
