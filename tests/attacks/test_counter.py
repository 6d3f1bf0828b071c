"""The per-image query counter: every query counted, the budget enforced, answers attributed."""

from __future__ import annotations

import numpy as np
import pytest

from matt.attacks import (
    AttackDiverged,
    QueryBudgetExhausted,
    QueryCounter,
    TargetFooled,
    ThreatModel,
    margin_of,
)
from matt.errors import InputError, SpecError


class FixedAnswer:
    """Answers class ``answer`` with probability 0.9 for every image, and counts rows."""

    name = "fixed"
    num_classes = 3

    def __init__(self, answer: int, randomized: bool = False) -> None:
        self.answer = answer
        self.randomized = randomized
        self.rows = 0

    def predict(self, images: np.ndarray) -> np.ndarray:
        self.rows += len(images)
        probabilities = np.full((len(images), 3), 0.05, dtype=np.float32)
        probabilities[:, self.answer] = 0.9
        return probabilities


IMAGE = np.full((1, 4, 4), 0.5, dtype=np.float32)
THREAT = ThreatModel("linf", 0.1)


def test_counts_every_row_and_stops_at_the_budget():
    target = FixedAnswer(answer=0)
    counter = QueryCounter(target, IMAGE, 0, THREAT, budgets=(5, 10))
    counter(np.repeat(IMAGE[None], 8, axis=0))
    assert counter.trace.queries_used == 8
    with pytest.raises(QueryBudgetExhausted):
        counter(np.repeat(IMAGE[None], 8, axis=0))
    assert target.rows == 10 == counter.trace.queries_used
    with pytest.raises(QueryBudgetExhausted):
        counter(IMAGE[None])
    assert target.rows == 10


def test_a_non_finite_query_is_not_sent_and_ends_the_attack():
    target = FixedAnswer(answer=0, randomized=True)
    counter = QueryCounter(target, IMAGE, 0, THREAT, budgets=(10,))
    counter(IMAGE[None])
    broken = np.repeat(IMAGE[None], 2, axis=0)
    broken[1, 0, 0, 0] = np.nan
    with pytest.raises(AttackDiverged):
        counter(broken)
    assert target.rows == 1 == counter.trace.queries_used


def test_an_attack_that_diverges_ends_with_its_trace():
    from matt.attacks import Attack

    class Diverging(Attack):
        name = "diverging"
        norm = "linf"
        uses_scores = True
        library = "matt"

        def run(self, model, image, label, *, threat, rng):
            model(image[None])
            model(np.full_like(image, np.inf)[None])
            raise AssertionError("never reached: the counter ends the attack")

    trace = Diverging()(FixedAnswer(answer=0, randomized=True), IMAGE, 0, threat=THREAT,
                        budgets=(10,), seed=0)
    assert trace.queries_used == 2 and trace.first_wrong_query is None  # the clean image, one step


def test_first_wrong_query_counts_only_inside_the_ball():
    target = FixedAnswer(answer=1)  # always wrong for label 0
    counter = QueryCounter(target, IMAGE, 0, THREAT, budgets=(100,))
    far = np.clip(IMAGE + 0.3, 0, 1)[None]
    near = np.clip(IMAGE + 0.05, 0, 1)[None]
    target.randomized = True  # keep querying after the first wrong answer
    counter(np.concatenate([far, far, near, far]))
    assert counter.trace.first_wrong_query == 3


def test_deterministic_target_fooled_stops_the_attack():
    target = FixedAnswer(answer=1, randomized=False)
    counter = QueryCounter(target, IMAGE, 0, THREAT, budgets=(100,))
    with pytest.raises(TargetFooled):
        counter(IMAGE[None])
    assert counter.trace.first_wrong_query == 1


def test_candidates_are_the_lowest_margin_in_ball_query_at_each_budget():
    class Scripted(FixedAnswer):
        def __init__(self) -> None:
            super().__init__(0, randomized=True)
            self.margins = iter([0.9, 0.5, 0.7, 0.2, 0.8])

        def predict(self, images: np.ndarray) -> np.ndarray:
            rows = []
            for _ in images:
                first = next(self.margins)
                rows.append([first, 1 - first, 0.0])
            return np.asarray(rows, dtype=np.float32)

    counter = QueryCounter(Scripted(), IMAGE, 0, THREAT, budgets=(3, 5))
    probes = np.stack([np.clip(IMAGE + 0.01 * i, 0, 1) for i in range(5)])
    counter(probes)
    trace = counter.finish()
    np.testing.assert_array_equal(trace.candidates[3], probes[1])
    np.testing.assert_array_equal(trace.candidates[5], probes[3])
    assert trace.candidate_margins[5] < trace.candidate_margins[3]


def test_queries_are_clipped_to_the_unit_range():
    seen = []

    class Recording(FixedAnswer):
        def predict(self, images: np.ndarray) -> np.ndarray:
            seen.append(images.copy())
            return super().predict(images)

    counter = QueryCounter(Recording(0), IMAGE, 0, THREAT, budgets=(10,))
    counter((IMAGE * 4 - 1.5)[None])
    assert seen[0].min() >= 0 and seen[0].max() <= 1


def test_margin_is_the_log_probability_gap_and_does_not_saturate():
    probabilities = np.array([[1.0 - 2e-9, 1e-9, 1e-9], [0.2, 0.7, 0.1]], dtype=np.float32)
    margins = margin_of(probabilities, 0)
    assert margins[0] > 15  # probability margin would round to 1.0
    assert margins[1] == pytest.approx(np.log(0.2) - np.log(0.7), rel=1e-5)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projection_lands_in_the_ball_and_the_unit_range(norm):
    rng = np.random.default_rng(0)
    threat = ThreatModel(norm, 0.3)
    origin = rng.random((3, 8, 8)).astype(np.float32)
    far = rng.normal(0, 2, (16, 3, 8, 8)).astype(np.float32) + origin
    projected = threat.project(far, origin)
    assert threat.contains(projected, origin).all()
    assert projected.min() >= 0 and projected.max() <= 1


def test_bad_settings_are_refused():
    with pytest.raises(SpecError):
        ThreatModel("l1", 0.1)
    with pytest.raises(SpecError):
        ThreatModel("linf", -1.0)
    with pytest.raises(InputError):
        QueryCounter(FixedAnswer(0), IMAGE[0], 0, THREAT, budgets=(10,))
    with pytest.raises(InputError):
        QueryCounter(FixedAnswer(0), IMAGE, 0, THREAT, budgets=())
