"""Profiles: which attack the figures use, and the K values of Figure 6."""

from __future__ import annotations

from matt.evaluation.profiles import PROFILES, pool_sizes


def test_the_figures_attack_square_as_the_table_runs_it():
    quick = PROFILES["quick"]
    assert quick.with_overrides(attacks=("nes", "square")).figure_attack == "square"
    tuned = quick.with_overrides(attacks=("nes", "square:p_init=0.05", "eot-square"))
    assert tuned.figure_attack == "square:p_init=0.05"  # not eot-square, not plain square
    assert quick.with_overrides(attacks=("nes",)).figure_attack == "square"  # run for Figure 6


def test_pool_sizes_are_powers_of_two_and_the_pool():
    assert pool_sizes(1) == (1,)
    assert pool_sizes(8) == (1, 2, 4, 8)
    assert pool_sizes(12) == (1, 2, 4, 8, 12)
