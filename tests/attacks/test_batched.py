"""Batched attacks: exact per-image accounting, budgets truncated per image, EOT counted,
and the batched Square as strong as ART's on the same images."""

from __future__ import annotations

import numpy as np
import pytest

from matt.attacks import BatchCounter, BatchedSquare, EotSquare, build_attack, default_threat
from tests.attacks.conftest import CnnTarget


class _Recorder:
    """A fixed linear 'classifier' over pixel means that logs each call's size."""

    name = "recorder"
    num_classes = 2

    def __init__(self, randomized: bool = True) -> None:
        self.randomized = randomized
        self.calls: list[int] = []

    def predict(self, images: np.ndarray) -> np.ndarray:
        self.calls.append(len(images))
        mean = images.reshape(len(images), -1).mean(axis=1)
        score = np.stack([0.6 - mean, mean - 0.6], axis=1) * 10
        return (np.exp(score) / np.exp(score).sum(1, keepdims=True)).astype(np.float32)


def test_counter_truncates_each_image_at_its_own_budget_and_numbers_queries():
    images = np.full((3, 1, 4, 4), 0.5, np.float32)
    counter = BatchCounter(_Recorder(), images, np.zeros(3, np.int64),
                           default_threat("fmnist", "linf"), budgets=(2, 5))
    owners = np.array([0, 0, 0, 1, 2, 2])
    batch = np.repeat(images[:1], 6, axis=0)
    batch[2] += 0.1  # image 0's third query: mean 0.6 + ... answered class 1 = wrong
    batch[2] = np.clip(batch[2] + 0.05, 0, 1)
    counter.query(owners, batch)
    assert counter.used.tolist() == [3, 1, 2]
    _, sent = counter.query(np.array([0, 0, 0, 0]), np.repeat(images[:1], 4, axis=0))
    assert sent.tolist() == [True, True, False, False], "image 0 had 2 queries left"
    assert counter.used.tolist() == [5, 1, 2]
    assert not counter.active[0] and counter.active[1]
    traces = counter.finish()
    assert [t.queries_used for t in traces] == [5, 1, 2]
    assert traces[0].first_wrong_query is None, "query 3 left the ball (0.15 > 0.1)"


def test_first_wrong_answer_is_the_earliest_in_ball_wrong_row():
    images = np.full((2, 1, 4, 4), 0.55, np.float32)
    counter = BatchCounter(_Recorder(), images, np.zeros(2, np.int64),
                           default_threat("fmnist", "linf"), budgets=(10,))
    batch = np.repeat(images[:1], 4, axis=0)
    batch[1] += 0.08  # mean 0.63 > 0.6: class 1, wrong, inside the 0.1 ball
    batch[3] += 0.09
    counter.query(np.array([1, 1, 1, 1]), batch)
    assert counter.finish()[1].first_wrong_query == 2


def test_a_deterministic_target_stops_an_image_once_fooled():
    images = np.full((1, 1, 4, 4), 0.55, np.float32)
    counter = BatchCounter(_Recorder(randomized=False), images, np.zeros(1, np.int64),
                           default_threat("fmnist", "linf"), budgets=(10,))
    counter.query(np.array([0]), images + 0.08)
    assert not counter.active[0]


def test_batched_square_makes_one_call_per_step_for_all_images(tiny_cnn, correct_images):
    images, labels = correct_images
    target = CnnTarget(tiny_cnn, noise=0.02)
    calls = []
    predict = target.predict
    target.predict = lambda batch: calls.append(len(batch)) or predict(batch)
    traces = BatchedSquare(p_init=0.8).attack_batch(
        target, images, labels, threat=default_threat("fmnist", "linf"), budgets=(20,), seed=0)
    assert calls[0] == len(images), "query 1: every clean image in one call"
    assert len(calls) <= 20, "one call per step"
    assert sum(calls) == sum(t.queries_used for t in traces) == len(target.seen)
    assert all(t.queries_used <= 20 for t in traces)


def test_eot_sends_every_candidate_m_times_and_counts_them(tiny_cnn, correct_images):
    images, labels = correct_images
    target = CnnTarget(tiny_cnn, noise=0.02)
    traces = EotSquare(p_init=0.8, eot_samples=4).attack_batch(
        target, images[:3], labels[:3], threat=default_threat("fmnist", "linf"),
        budgets=(41,), seed=0)
    assert sum(t.queries_used for t in traces) == len(target.seen)
    # query 1 (clean), then groups of 4 identical rows per candidate
    seen = np.stack(target.seen[3:15])
    assert all(np.array_equal(seen[i], seen[i - (i % 4)]) for i in range(12))


def test_batched_square_is_as_strong_as_arts(tiny_cnn, correct_images):
    images, labels = correct_images
    threat = default_threat("fmnist", "linf")
    batched = BatchedSquare(p_init=0.8).attack_batch(
        CnnTarget(tiny_cnn), images, labels, threat=threat, budgets=(300,), seed=0)
    art = build_attack("square-art", "fmnist")
    art_broken = [art(CnnTarget(tiny_cnn), image, int(label), threat=threat, budgets=(300,),
                      seed=i).first_wrong_query is not None
                  for i, (image, label) in enumerate(zip(images, labels, strict=True))]
    ours = np.mean([t.first_wrong_query is not None for t in batched])
    assert ours >= np.mean(art_broken) - 0.2
    assert ours >= 0.3


@pytest.mark.parametrize("name", ["square", "eot-square", "nes", "eot-nes"])
def test_batched_attacks_keep_candidates_in_the_ball(name, tiny_cnn, correct_images):
    images, labels = correct_images
    attack = build_attack(name, "fmnist")
    threat = default_threat("fmnist", "linf")
    traces = attack.attack_batch(CnnTarget(tiny_cnn, noise=0.02), images[:4], labels[:4],
                                 threat=threat, budgets=(50, 250), seed=1)
    for image, trace in zip(images, traces, strict=False):
        assert set(trace.candidates) == {50, 250}
        assert all(threat.contains(c[None], image).all() for c in trace.candidates.values())
        assert trace.queries_used <= 250
