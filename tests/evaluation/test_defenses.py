"""Every defense of Table 2 builds a target that answers probabilities, random where it should."""

from __future__ import annotations

import numpy as np
import pytest

from matt.errors import InputError, SpecError
from matt.evaluation import DEFENSES, DefenseSetting, build_defense, resolve_subject

RANDOMIZED = {"noise", "disco-ensemble", "matt", "matt-at"}


@pytest.fixture(scope="module")
def subject(tiny_weights_path):
    return resolve_subject(str(tiny_weights_path), at_weights=str(tiny_weights_path))


@pytest.mark.parametrize("name", sorted(set(DEFENSES) - {"remote"}))
def test_every_defense_answers_probabilities(name, subject):
    factory = build_defense(subject, DefenseSetting(name))
    target = factory(7)
    images = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    answers = target.predict(images)
    assert answers.shape == (3, 10) and answers.dtype == np.float32
    np.testing.assert_allclose(answers.sum(axis=1), 1.0, atol=1e-4)
    assert target.randomized == (name in RANDOMIZED)
    # A seed makes a random defense reproducible: the same seed, the same answers.
    np.testing.assert_allclose(factory(7).predict(images), answers, atol=1e-6)


def test_random_defenses_differ_between_seeds(subject):
    images = np.random.default_rng(1).random((4, 1, 28, 28)).astype(np.float32)
    factory = build_defense(subject, DefenseSetting("noise"))
    assert not np.allclose(factory(1).predict(images), factory(2).predict(images))


def test_bad_defense_settings_are_refused(subject):
    with pytest.raises(InputError, match="unknown defense"):
        DefenseSetting("jpeg2000")
    with pytest.raises(SpecError):
        DefenseSetting("noise", pool=2)
    with pytest.raises(InputError, match="--url"):
        build_defense(subject, DefenseSetting("remote"))
    assert DefenseSetting("matt", pool=2, patch=7).label == "matt[K=2,patch=7]"


def test_missing_adversarially_trained_weights_named(tiny_weights_path):
    subject = resolve_subject(str(tiny_weights_path))
    with pytest.raises(InputError, match="--at-weights"):
        build_defense(subject, DefenseSetting("at"))


def test_unknown_bundle_is_refused(tmp_path):
    with pytest.raises(InputError, match="neither"):
        resolve_subject(str(tmp_path / "nothing-here"))
