"""ART's attacks query MATT through a BlackBoxClassifier, one fresh draw per query."""

from __future__ import annotations

import numpy as np
import pytest

from matt.runtime import Pipeline
from tests.runtime.conftest import random_images

pytest.importorskip("art", reason="the eval extra (adversarial-robustness-toolbox) is needed")

from art.attacks.evasion import HopSkipJump
from art.estimators.classification import BlackBoxClassifier

from matt.integrations.art import art_classifier


@pytest.fixture(scope="module")
def pipe(rgb_bundle):
    with Pipeline.load(rgb_bundle[1], backend="onnxruntime", seed=5) as loaded:
        yield loaded


def test_the_classifier_answers_as_the_pipeline(pipe):
    images = random_images((6, *pipe.input_shape), seed=1)
    classifier = art_classifier(pipe.with_seed(9))
    assert isinstance(classifier, BlackBoxClassifier)
    assert classifier.nb_classes == 10 and tuple(classifier.input_shape) == pipe.input_shape
    np.testing.assert_allclose(classifier.predict(images), pipe.with_seed(9).predict(images),
                               atol=1e-6)
    assert classifier.predict_fn.queries == 6
    undefended = art_classifier(pipe, defended=False)
    np.testing.assert_allclose(undefended.predict(images), pipe.classify_undefended(images),
                               atol=1e-6)


def test_an_art_attack_runs_against_matt(pipe):
    images = random_images((2, *pipe.input_shape), seed=2)
    classifier = art_classifier(pipe)
    attack = HopSkipJump(classifier, max_iter=1, max_eval=8, init_eval=4, init_size=5,
                         verbose=False)
    adversarial = attack.generate(images)
    assert adversarial.shape == images.shape
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert classifier.predict_fn.queries > 2
