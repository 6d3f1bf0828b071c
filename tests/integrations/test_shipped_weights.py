"""What ships in ``matt/assets/weights``: every file checked by its sha256, the budget held."""

from __future__ import annotations

import pytest

from matt.assets import WEIGHTS_DIR, shipped_weights
from matt.training.weights import load_weights

BUDGET_BYTES = 40 * 1000**2
"""All shipped weights together (the pools issue's 40 MB)."""

EXPECTED = {"cifar10": (3, 32), "fmnist": (1, 28), "fmnist-at": (1, 28), "imagenet": (3, 224)}


def test_the_shipped_weights_fit_the_budget():
    files = sorted(WEIGHTS_DIR.glob("*.pt"))
    assert {path.stem for path in files} >= set(EXPECTED)
    assert sum(path.stat().st_size for path in files) <= BUDGET_BYTES


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_shipped_file_loads_checked_with_its_own_shape(name):
    """``load_weights`` checks the sidecar sha256 and loads with ``weights_only``."""
    weights = load_weights(shipped_weights(name))
    channels, size = EXPECTED[name]
    assert tuple(weights.input_shape) == (channels, size, size)
    assert len(weights.pool) >= 8
    assert size % weights.tiling.patch == 0  # the patch grid divides the image
