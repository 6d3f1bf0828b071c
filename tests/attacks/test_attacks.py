"""Every registered attack against a fitted Fashion-MNIST CNN: counted, budgeted, effective."""

from __future__ import annotations

import numpy as np
import pytest

from matt.attacks import (
    ATTACKS,
    ArtSquareAttack,
    BatchedNes,
    BatchedSquare,
    build_attack,
    default_threat,
)
from matt.errors import InputError, SpecError
from tests.attacks.conftest import CnnTarget


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_query_is_counted_and_attributed_to_its_image(name, tiny_cnn, correct_images):
    images, labels = correct_images
    attack = build_attack(name, "fmnist")
    threat = default_threat("fmnist", attack.norm)
    for image, label in zip(images[:2], labels[:2], strict=True):
        target = CnnTarget(tiny_cnn)
        trace = attack(target, image, int(label), threat=threat, budgets=(30, 120), seed=1)
        assert trace.queries_used == len(target.seen) <= 120
        seen = np.stack(target.seen)
        answers = CnnTarget(tiny_cnn).predict(seen).argmax(1)
        inside = threat.contains(seen, image)
        wrong = np.flatnonzero(inside & (answers != label))
        expected = int(wrong[0]) + 1 if len(wrong) else None
        assert trace.first_wrong_query == expected
        assert set(trace.candidates) == {30, 120}
        for candidate in trace.candidates.values():
            assert threat.contains(candidate[None], image).all()


def test_square_drives_accuracy_down_within_a_small_budget(tiny_cnn, correct_images):
    images, labels = correct_images
    attack = build_attack("square", "fmnist")
    threat = default_threat("fmnist", "linf")
    broken = [attack(CnnTarget(tiny_cnn), image, int(label), threat=threat, budgets=(300,),
                     seed=index).first_wrong_query is not None
              for index, (image, label) in enumerate(zip(images, labels, strict=True))]
    # Every image starts correctly classified; the attack must break a good share of them.
    assert np.mean(broken) >= 0.3


def test_a_random_target_is_queried_to_the_budget(tiny_cnn, correct_images):
    images, labels = correct_images
    target = CnnTarget(tiny_cnn, noise=0.05)
    attack = BatchedNes(learning_rate=0.03)
    trace = attack(target, images[0], int(labels[0]), threat=default_threat("fmnist", "linf"),
                   budgets=(150,), seed=0)
    assert trace.queries_used == 150 == len(target.seen)


def test_hyper_parameters_are_validated():
    with pytest.raises(SpecError):
        BatchedNes(samples=3)
    with pytest.raises(SpecError):
        BatchedSquare(p_init=1.5)
    with pytest.raises(SpecError):
        ArtSquareAttack(p_init=1.5)
    with pytest.raises(SpecError):
        BatchedSquare(eot_samples=0)
    with pytest.raises(InputError, match="not key=value"):
        build_attack("square:pinit=0.1")
    with pytest.raises(InputError, match="is not a float"):
        build_attack("square:p_init=lots")
    assert build_attack("eot-square:eot_samples=10", "fmnist").eot_samples == 10
    with pytest.raises(InputError):
        build_attack("pgd")
    with pytest.raises(SpecError):
        build_attack("square")(CnnTarget(None), np.zeros((1, 28, 28), np.float32), 0,
                               threat=default_threat("fmnist", "l2"), budgets=(10,))
