import numpy as np
import pytest
from scipy import stats

from matt.core import EngineDraw, group_by_engine
from matt.errors import SpecError


@pytest.mark.parametrize("pool_size", [1, 3, 12])
def test_unseeded_draws_are_uniform(pool_size):
    draws = EngineDraw(pool_size).draw(60_000)
    assert draws.min() >= 0 and draws.max() < pool_size
    counts = np.bincount(draws, minlength=pool_size)
    if pool_size > 1:
        assert stats.chisquare(counts).pvalue > 1e-4


def test_seeded_draws_are_uniform():
    counts = np.bincount(EngineDraw(12, seed=7).draw(60_000), minlength=12)
    assert stats.chisquare(counts).pvalue > 1e-4


def test_unseeded_draws_are_fresh_each_call():
    draw = EngineDraw(12)
    assert not np.array_equal(draw.draw(256), draw.draw(256))
    assert not np.array_equal(EngineDraw(12).draw(256), EngineDraw(12).draw(256))


def test_seeded_draws_repeat():
    assert np.array_equal(EngineDraw(12, seed=3).draw(500), EngineDraw(12, seed=3).draw(500))
    assert not np.array_equal(EngineDraw(12, seed=3).draw(500), EngineDraw(12, seed=4).draw(500))


def test_draws_are_independent_between_neighbouring_patches():
    draws = EngineDraw(4).draw(40_000)
    table = np.zeros((4, 4))
    np.add.at(table, (draws[:-1], draws[1:]), 1)
    assert stats.chi2_contingency(table).pvalue > 1e-4


def test_group_by_engine_partitions_indices():
    ids = np.array([2, 0, 2, 1, 0])
    groups = dict((k, list(v)) for k, v in group_by_engine(ids, 3))
    assert groups == {0: [1, 4], 1: [3], 2: [0, 2]}


def test_bad_pool_size():
    with pytest.raises(SpecError):
        EngineDraw(0)
