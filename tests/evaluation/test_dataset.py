"""The evaluation images: balanced, correctly classified, reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from matt.data import sample_natural_crops
from matt.evaluation import DefenseSetting, build_defense, evaluation_set, resolve_subject
from matt.training.weights import save_weights
from tests.conftest import make_weights


def test_fashion_mnist_set_is_balanced_correct_and_reproducible(tiny_weights_path):
    subject = resolve_subject(str(tiny_weights_path))
    predict = build_defense(subject, DefenseSetting("none"))(None).predict
    chosen = evaluation_set(subject, predict, 20, seed=5)
    assert len(chosen) == 20
    assert np.bincount(chosen.labels, minlength=10).tolist() == [2] * 10
    assert np.all(predict(chosen.images).argmax(1) == chosen.labels)
    # Interleaved class by class: every prefix of ten holds each class once.
    assert sorted(chosen.labels[:10].tolist()) == list(range(10))
    assert evaluation_set(subject, predict, 20, seed=5).fingerprint == chosen.fingerprint
    assert evaluation_set(subject, predict, 20, seed=6).fingerprint != chosen.fingerprint


def test_cifar10_set_takes_the_real_images_then_confident_held_out_crops(tmp_path,
                                                                         monkeypatch):
    from matt.errors import DataError
    from matt.evaluation import dataset

    path = save_weights(make_weights(pool_size=1), tmp_path / "cifar10.pt")
    subject = resolve_subject(str(path))
    predict = build_defense(subject, DefenseSetting("none"))(None).predict
    # a random-init classifier is never 90 % sure: ask for what half its answers reach
    threshold = float(np.median(predict(sample_natural_crops(64, 32, seed=0)).max(1)))
    monkeypatch.setattr(dataset, "CROP_CONFIDENCE", threshold)
    chosen = evaluation_set(subject, predict, 24, seed=0)
    assert len(chosen) == 24 and chosen.images.shape[1:] == (3, 32, 32)
    answers = predict(chosen.images)
    assert np.all(answers.argmax(1) == chosen.labels)
    real = int(chosen.description.split()[0])
    assert np.all(answers[real:].max(1) >= threshold)
    assert "held-out photographs" in chosen.description
    monkeypatch.setattr(dataset, "CROP_CONFIDENCE", 1.01)
    with pytest.raises(DataError, match="reach confidence"):
        evaluation_set(subject, predict, 24, seed=0)


def test_a_runtime_bundle_of_other_weights_is_refused(tmp_path):
    from matt.errors import InputError
    from matt.export.bundle_writer import export_bundle

    first = save_weights(make_weights(pool_size=1), tmp_path / "a.pt")
    other = make_weights(pool_size=1)
    other.provenance["note"] = "different file"
    second = save_weights(other, tmp_path / "b.pt")
    export_bundle(first, tmp_path / "bundle")
    subject = resolve_subject(str(first), runtime_bundle=str(tmp_path / "bundle"))
    assert subject.bundle_dir == tmp_path / "bundle" and subject.weights is not None
    with pytest.raises(InputError, match="exported from other weights"):
        resolve_subject(str(second), runtime_bundle=str(tmp_path / "bundle"))
    with pytest.raises(InputError, match=r"no manifest\.json"):
        resolve_subject(str(first), runtime_bundle=str(tmp_path))


@pytest.mark.parametrize("name", ["cifar10", "fmnist", "imagenet"])
def test_every_shipped_pool_is_a_bundle_name(name):
    """``--bundle imagenet`` works like the other shipped names (it was refused once)."""
    from matt.assets import POOLS, shipped_weights

    assert name in POOLS
    subject = resolve_subject(name)
    assert subject.dataset == name
    assert subject.weights is not None and subject.weights_sha256 is not None
    assert subject.sources["weights"].startswith(str(shipped_weights(name)))
