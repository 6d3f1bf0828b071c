"""Baselines under a real attack: AAA misleads Square where the bare classifier falls."""

from __future__ import annotations

import numpy as np

from matt.attacks import BatchedSquare, default_threat
from matt.defense import AaaLinear
from matt.evaluation.targets import TorchTarget


def test_aaa_holds_images_the_bare_classifier_loses_to_square(tiny_cnn, correct_images):
    images, labels = correct_images
    threat = default_threat("fmnist", "linf")
    square = BatchedSquare(p_init=0.8)
    bare = square.attack_batch(TorchTarget("none", tiny_cnn, None, 10), images, labels,
                               threat=threat, budgets=(300,), seed=0)
    defended = square.attack_batch(TorchTarget("aaa", tiny_cnn, None, 10, AaaLinear()),
                                   images, labels, threat=threat, budgets=(300,), seed=0)
    lost_bare = np.mean([t.first_wrong_query is not None for t in bare])
    lost_aaa = np.mean([t.first_wrong_query is not None for t in defended])
    assert lost_aaa < lost_bare
