"""Round-robin timing: every row gets the same rounds, the budget is honoured, failures kept."""

from __future__ import annotations

import time

import pytest

from matt.bench.timing import TimedRow, latency_stats, plan_rounds, time_rows


def test_plan_keeps_the_asked_rounds_when_they_fit():
    plan = plan_rounds(probe_round_s=0.001, iterations=900, warmup=100, budget_s=10.0)
    assert (plan.warmup, plan.timed, plan.budget_limited) == (100, 900, False)


@pytest.mark.parametrize("budget_s", [0.05, 1.0, 5.0])
def test_plan_cuts_rounds_to_the_budget_and_keeps_the_warmup_share(budget_s):
    plan = plan_rounds(probe_round_s=0.01, iterations=900, warmup=100, budget_s=budget_s)
    assert plan.budget_limited
    assert plan.warmup >= 1 and plan.timed >= 1
    assert (plan.warmup + plan.timed) * 0.01 <= max(budget_s, 0.02) + 1e-9
    assert plan.warmup <= plan.timed


def test_every_row_is_timed_the_same_number_of_rounds():
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1

    def slow():
        calls["slow"] += 1
        time.sleep(0.002)

    result = time_rows([TimedRow("fast", fast), TimedRow("slow", slow)], iterations=7, warmup=2,
                       budget_s=60, progress=False)
    assert result["rows"]["fast"]["n"] == result["rows"]["slow"]["n"] == 7
    assert calls["fast"] == calls["slow"] == 1 + 2 + 7  # probe, warm-up, timed
    assert result["rows"]["slow"]["median_ms"] > result["rows"]["fast"]["median_ms"]
    assert not result["rounds"]["budget_limited"]


def test_a_row_that_fails_is_set_aside_with_its_reason():
    def broken():
        raise ValueError("engine exploded")

    result = time_rows([TimedRow("ok", lambda: None), TimedRow("broken", broken)],
                       iterations=3, warmup=0, budget_s=60, progress=False)
    assert set(result["rows"]) == {"ok"}
    assert "engine exploded" in result["failed"]["broken"]


def test_stats_are_ordered_and_in_milliseconds():
    stats = latency_stats([1_000_000, 2_000_000, 3_000_000, 100_000_000])
    assert stats["n"] == 4
    assert stats["min_ms"] == pytest.approx(1.0)
    assert stats["min_ms"] <= stats["median_ms"] <= stats["p99_ms"] <= stats["max_ms"]
    assert stats["max_ms"] == pytest.approx(100.0)
