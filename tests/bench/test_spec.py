"""The bench spec refuses bad values with the project's error; the table grid is as documented."""

from __future__ import annotations

import pytest

from matt.bench.spec import BenchSpec, table_grid
from matt.errors import SpecError


def test_all_leaves_out_batch_64_at_224_unless_asked():
    assert table_grid("all", None, None) == ((1, 32), (1, 224), (64, 32))
    assert (64, 224) in table_grid("all", (1, 64), (32, 224))


def test_explicit_lists_give_every_pair():
    assert table_grid("latency", (1, 8), (16,)) == ((1, 16), (8, 16))
    assert table_grid("throughput", None, (32,)) == ((64, 32),)


@pytest.mark.parametrize("changes", [
    {"command": "speed"},
    {"ks": ()},
    {"ks": (1, 1)},
    {"ks": (0, 2)},
    {"tables": ((1, 4),)},
    {"backends": ("cuda",)},
    {"precisions": ("int4",)},
    {"families": ("everything",)},
    {"iterations": 0},
    {"table_budget_s": 0},
    {"threads": 0},
    {"halo": -1},
])
def test_bad_values_are_refused(changes):
    with pytest.raises(SpecError):
        BenchSpec(**{"command": "latency", **changes})


def test_families_default_to_the_command():
    assert "disco-ensemble" in BenchSpec("all").row_families
    assert BenchSpec("roofline").row_families == ("matt", "sgemm")
