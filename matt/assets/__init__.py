"""The trained default weights shipped inside the package (``cifar10`` and ``fmnist``)."""

from __future__ import annotations

from pathlib import Path

from matt.errors import WeightsError

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_BUNDLE = "cifar10"


def shipped_weights(name: str = DEFAULT_BUNDLE) -> Path:
    """Path of a shipped ``weights.pt`` by name (``cifar10``, ``fmnist``, ``fmnist-at``)."""
    path = WEIGHTS_DIR / f"{name}.pt"
    if not path.is_file():
        known = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
        raise WeightsError(f"no shipped weights named {name!r}; shipped: {known or 'none yet'}")
    return path
