"""The two scoring rules: monotone in the budget, offline by majority, curve and table agree."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matt.attacks import QueryTrace, build_attack, default_threat
from matt.evaluation import CellSummary, ImageRecord, judge_offline, online_curve
from tests.attacks.conftest import CnnTarget

BUDGETS = (20, 60, 150)


@st.composite
def records(draw):
    count = draw(st.integers(1, 20))
    made = []
    for index in range(count):
        wrong = draw(st.one_of(st.none(), st.integers(1, 150)))
        flags = draw(st.lists(st.booleans(), min_size=3, max_size=3))
        cumulative = {b: any(flags[: i + 1]) for i, b in enumerate(BUDGETS)}
        made.append(ImageRecord(index, 150, wrong, cumulative, 0.0, 0.0))
    return made


@given(records())
@settings(max_examples=60, deadline=None)
def test_robust_accuracy_never_rises_with_the_budget(made):
    summary = CellSummary.from_records("square", "none", made, BUDGETS)
    for rule in (summary.online, summary.offline):
        values = [rule[b] for b in BUDGETS]
        assert all(a >= b for a, b in itertools.pairwise(values))
    curve = online_curve(made, max(BUDGETS))
    assert np.all(np.diff(curve) <= 0)
    for budget in BUDGETS:
        assert curve[budget] == pytest.approx(summary.online[budget])


def test_measured_robust_accuracy_is_monotone_in_the_budget(tiny_cnn, correct_images):
    images, labels = correct_images
    attack = build_attack("square", "fmnist")
    threat = default_threat("fmnist", "linf")
    made = []
    for index, (image, label) in enumerate(zip(images[3:9], labels[3:9], strict=True)):
        target = CnnTarget(tiny_cnn, noise=0.05, seed=index)
        trace = attack(target, image, int(label), threat=threat, budgets=BUDGETS, seed=index)
        offline = judge_offline(target, trace, int(label), fresh_queries=5)
        made.append(ImageRecord(index, trace.queries_used, trace.first_wrong_query, offline,
                                0.0, 0.0))
    summary = CellSummary.from_records("square", "noise", made, BUDGETS)
    for rule in (summary.online, summary.offline):
        assert [rule[b] for b in BUDGETS] == sorted((rule[b] for b in BUDGETS), reverse=True)
    assert summary.online[BUDGETS[-1]] < 1.0  # the attack broke something


class Scripted:
    """Answers class 1 on ``wrong_rows`` of each call, class 0 otherwise."""

    name = "scripted"
    num_classes = 2

    def __init__(self, randomized: bool, wrong_rows: int) -> None:
        self.randomized = randomized
        self.wrong_rows = wrong_rows
        self.calls: list[int] = []

    def predict(self, images: np.ndarray) -> np.ndarray:
        self.calls.append(len(images))
        answers = np.tile(np.float32([0.9, 0.1]), (len(images), 1))
        answers[: self.wrong_rows] = [0.1, 0.9]
        return answers


def _trace() -> QueryTrace:
    first, second = np.zeros((1, 2, 2), np.float32), np.ones((1, 2, 2), np.float32)
    return QueryTrace(30, None, {10: first, 20: second, 30: second}, {10: 0.5, 20: 0.1, 30: 0.1})


def test_offline_rule_takes_a_majority_of_fresh_queries():
    assert judge_offline(Scripted(True, wrong_rows=3), _trace(), 0, 5) == {
        10: True, 20: True, 30: True}
    target = Scripted(True, wrong_rows=2)
    assert judge_offline(target, _trace(), 0, 5) == {10: False, 20: False, 30: False}
    assert target.calls == [5, 5]  # the same candidate is judged once


def test_offline_rule_asks_a_deterministic_target_once():
    target = Scripted(False, wrong_rows=1)
    assert judge_offline(target, _trace(), 0, 5) == {10: True, 20: True, 30: True}
    assert target.calls == [1]


def test_no_attack_summary_is_the_mean_chance_of_b_right_answers():
    from matt.evaluation.records import no_attack_summary

    summary = no_attack_summary({"queries": 100, "wrong": [0, 1, 50]}, (50, 100, 1000))
    for budget in (50, 100, 1000):
        expected = (1 + 0.99**budget + 0.5**budget) / 3
        assert summary["online"][str(budget)] == pytest.approx(expected)
    assert summary["extrapolated"] == [1000]
    assert summary["per_query_error"] == pytest.approx(51 / 300, abs=1e-5)
    assert summary["images_ever_wrong"] == 2
    values = [summary["online"][b] for b in ("50", "100", "1000")]
    assert values == sorted(values, reverse=True)


def test_no_attack_summary_of_a_deterministic_defense_does_not_depend_on_the_budget():
    from matt.evaluation.records import no_attack_summary

    summary = no_attack_summary({"queries": 1, "wrong": [0, 1, 0, 0]}, (200, 2500))
    assert summary["online"] == {"200": 0.75, "2500": 0.75} and summary["extrapolated"] == []


def test_batched_offline_judging_matches_the_per_image_rule(tiny_cnn, correct_images):
    from matt.attacks import BatchedSquare
    from matt.evaluation.records import judge_offline_batch

    images, labels = correct_images
    threat = default_threat("fmnist", "linf")
    traces = BatchedSquare(p_init=0.8).attack_batch(CnnTarget(tiny_cnn), images, labels,
                                                    threat=threat, budgets=BUDGETS, seed=0)
    batched = judge_offline_batch(CnnTarget(tiny_cnn), traces, labels, fresh_queries=5)
    single = [judge_offline(CnnTarget(tiny_cnn), trace, int(label), 5)
              for trace, label in zip(traces, labels, strict=True)]
    assert batched == single


def test_wilson_interval_brackets_the_rate_and_narrows_with_more_images():
    from matt.evaluation.records import wilson_interval

    low, high = wilson_interval(7, 10)
    assert low < 0.7 < high
    low_big, high_big = wilson_interval(700, 1000)
    assert low < low_big < 0.7 < high_big < high
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0


def test_query_progress_counts_every_query_a_batched_cell_sends(tiny_cnn, correct_images):
    """The per-query bar of a batched cell: every row sent is counted once, answers unchanged."""
    import io

    from tqdm import tqdm

    from matt.evaluation.runner import QueryProgress

    images, labels = correct_images
    attack = build_attack("square", "fmnist")
    target = CnnTarget(tiny_cnn, noise=0.05, seed=0)
    with tqdm(total=6 * BUDGETS[-1], file=io.StringIO()) as bar:
        counted = QueryProgress(target, bar)
        traces = attack.attack_batch(counted, images[:6], labels[:6].astype(np.int64),
                                     threat=default_threat("fmnist", "linf"), budgets=BUDGETS,
                                     seed=0)
        assert bar.n == sum(trace.queries_used for trace in traces) > 6
    assert (counted.name, counted.randomized, counted.num_classes) == (
        target.name, target.randomized, target.num_classes)
