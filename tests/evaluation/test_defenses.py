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


def test_disco_runs_on_the_runtime_bundle_as_the_torch_reference_does(tmp_path):
    """With --runtime-bundle DISCO is the PGD-trained member on ONNX Runtime, one whole-image
    window: the same answers as the torch reference (purify_whole), within export parity."""
    from matt.evaluation.defenses import disco_member
    from matt.evaluation.targets import PipelineTarget
    from matt.export import export_bundle
    from matt.training.weights import save_weights
    from tests.conftest import make_weights

    weights = make_weights(channels=1, size=28, pool_size=3, dataset="fmnist")
    weights.pool[2].provenance["attack"] = {"name": "traces+pgd"}  # PGD inside a mix
    path = save_weights(weights, tmp_path / "fmnist.pt")
    export_bundle(path, tmp_path / "bundle")
    runtime = resolve_subject(str(path), runtime_bundle=str(tmp_path / "bundle"))
    reference = resolve_subject(str(path))
    assert disco_member(runtime) == 2
    served = build_defense(runtime, DefenseSetting("disco"))(0)
    torch_ref = build_defense(reference, DefenseSetting("disco"))(0)
    assert isinstance(served, PipelineTarget) and not served.randomized
    images = np.random.default_rng(3).random((6, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(served.predict(images), torch_ref.predict(images), atol=1e-4)
    np.testing.assert_array_equal(served.predict(images), served.predict(images))
