"""The trained default weights shipped inside the package (the pools ``cifar10``, ``fmnist``,
``imagenet`` and the adversarially trained classifier ``fmnist-at``)."""

from __future__ import annotations

from pathlib import Path

from matt.errors import WeightsError

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_BUNDLE = "cifar10"
POOLS = ("cifar10", "fmnist", "imagenet")
"""The shipped purifier pools: the names ``--bundle`` accepts wherever a pool is meant."""
SHIPPED_NAMES = (*POOLS, "fmnist-at")


def shipped_weights(name: str = DEFAULT_BUNDLE) -> Path:
    """Path of a shipped ``weights.pt`` by name (one of ``SHIPPED_NAMES``)."""
    path = WEIGHTS_DIR / f"{name}.pt"
    if not path.is_file():
        known = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
        raise WeightsError(f"no shipped weights named {name!r}; shipped: {known or 'none yet'}")
    return path
