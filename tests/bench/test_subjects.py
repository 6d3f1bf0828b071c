"""The subject's pool is fitted to the largest K and the tiling follows the image size."""

from __future__ import annotations

import pytest
import torch

from matt.bench.subjects import Subject, fit_pool, load_subject, stand_in_weights
from matt.errors import WeightsError
from tests.conftest import make_weights


def test_a_short_pool_is_grown_with_random_members_of_the_same_specs():
    weights = make_weights(pool_size=2)
    grown = fit_pool(weights, 5)
    assert len(grown.pool) == 5
    assert [m.name for m in grown.pool[:2]] == [m.name for m in weights.pool]
    assert [m.spec for m in grown.pool] == [weights.pool[i % 2].spec for i in range(5)]
    first, copy = grown.pool[0].state_dict, grown.pool[2].state_dict
    assert any(not torch.equal(first[key], copy[key]) for key in first)
    assert all("random init" in m.provenance["data"] for m in grown.pool[2:])


def test_a_long_pool_is_cut_to_the_first_members():
    weights = make_weights(pool_size=4)
    assert [m.name for m in fit_pool(weights, 2).pool] == ["p0", "p1"]


def test_the_subject_counts_trained_and_stand_in_members(weights_path):
    subject = load_subject(str(weights_path), 5)
    assert subject.source["trained_members"] == 3
    assert subject.source["stand_in_members"] == 2
    assert len(subject.weights.pool) == 5


def test_the_patch_grid_is_kept_at_other_sizes():
    subject = Subject(stand_in_weights(2))  # 32×32, patch 8: 4 patches per side
    assert subject.patch_for(32, None) == 8
    assert subject.patch_for(224, None) == 56
    assert subject.patch_for(224, 16) == 16
    assert subject.halo(None) == subject.weights.tiling.halo
    assert subject.halo(3) == 3


def test_a_missing_weights_file_is_one_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="no such weights file"):
        load_subject(str(tmp_path / "absent.pt"), 2)
