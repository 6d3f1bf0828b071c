"""Small bundles exported once per session from random-init weights (the shipped ones when
they exist are exercised by ``test_parity.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matt.bundle import Bundle, load_bundle


def export_small(root: Path, **weights_args) -> tuple[Path, Bundle]:
    from matt.export import export_bundle
    from matt.training.weights import save_weights
    from tests.conftest import make_weights

    weights = save_weights(make_weights(**weights_args), root / "weights.pt")
    return weights, load_bundle(export_bundle(weights, root / "bundle"))


@pytest.fixture(scope="session")
def rgb_bundle(tmp_path_factory) -> tuple[Path, Bundle]:
    """RGB 32×32, pool of 3 (EDSR, RCAN, EDSR), patch 8, halo = the receptive radius."""
    return export_small(tmp_path_factory.mktemp("rgb"), pool_size=3)


@pytest.fixture(scope="session")
def grey_bundle(tmp_path_factory) -> tuple[Path, Bundle]:
    """Grey 28×28 (Fashion-MNIST's shape), pool of 2."""
    return export_small(tmp_path_factory.mktemp("grey"), channels=1, size=28, pool_size=2,
                        seed=1, dataset="fmnist")


def random_images(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)
