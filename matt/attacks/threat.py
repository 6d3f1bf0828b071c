"""The threat model: which norm, how large a perturbation, and the default budgets per dataset.

Budgets (ε) follow the paper for CIFAR-10: 8/255 under ℓ∞ and 1.0 under ℓ2 on 32×32 RGB.
Fashion-MNIST takes the customary ℓ∞ 0.1; its ℓ2 budget keeps the paper's ratio between the
two norms: ε₂ = 1.0 · (0.1 / (8/255)) · √(784 / 3072) ≈ 1.61, i.e. the CIFAR-10 ℓ2 budget scaled
by how much larger the ℓ∞ budget is and by the square root of the ratio of input dimensions
(an ℓ2 ball of radius r over d pixels allows an RMS change of r/√d per pixel). ImageNet takes
the paper's ℓ∞ 4/255 on 3×224×224; its ℓ2 budget by the same rule is 1.0 · ½ · √(150528 / 3072)
= 3.5 (the customary ImageNet ℓ2 budget is 3.0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from matt.errors import InputError, SpecError

NORMS = ("linf", "l2")
_CIFAR_LINF = 8 / 255
_CIFAR_L2 = 1.0
_FMNIST_LINF = 0.1
_FMNIST_L2 = round(_CIFAR_L2 * (_FMNIST_LINF / _CIFAR_LINF) * math.sqrt(784 / 3072), 2)
_IMAGENET_LINF = 4 / 255
_IMAGENET_L2 = round(_CIFAR_L2 * (_IMAGENET_LINF / _CIFAR_LINF) * math.sqrt(150528 / 3072), 2)

DATASET_EPSILONS: dict[str, dict[str, float]] = {
    "cifar10": {"linf": _CIFAR_LINF, "l2": _CIFAR_L2},
    "fmnist": {"linf": _FMNIST_LINF, "l2": _FMNIST_L2},
    "imagenet": {"linf": _IMAGENET_LINF, "l2": _IMAGENET_L2},
}
_ALIASES = {"fashion-mnist": "fmnist", "fashion_mnist": "fmnist", "cifar-10": "cifar10"}
# A query counts as inside the ball up to float32 rounding of [0, 1] pixels.
_TOLERANCE = 1e-5


@dataclass(frozen=True)
class ThreatModel:
    """A perturbation budget: ``norm`` (``linf`` or ``l2``), radius ``epsilon`` in [0, 1] units."""

    norm: str
    epsilon: float

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise SpecError(f"threat model: norm must be one of {NORMS}, not {self.norm!r}")
        if not (isinstance(self.epsilon, (int, float)) and math.isfinite(self.epsilon)
                and self.epsilon > 0):
            raise SpecError(f"threat model: epsilon must be a finite number > 0, got "
                            f"{self.epsilon!r}")

    def distances(self, images: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """Per-image distance of a batch (N, C, H, W) from ``origin`` (C, H, W)."""
        delta = (images - origin[None]).reshape(len(images), -1).astype(np.float64)
        if self.norm == "linf":
            return np.abs(delta).max(axis=1)
        return np.sqrt((delta**2).sum(axis=1))

    def contains(self, images: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """Which images of the batch lie inside the ball (boolean per image)."""
        return self.distances(images, origin) <= self.epsilon + _TOLERANCE

    def contains_each(self, images: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Row ``i`` of ``images`` inside the ball around row ``i`` of ``origins``."""
        delta = (images - origins).reshape(len(images), -1).astype(np.float64)
        if self.norm == "linf":
            distances = np.abs(delta).max(axis=1) if delta.size else np.zeros(len(images))
        else:
            distances = np.sqrt((delta**2).sum(axis=1))
        return distances <= self.epsilon + _TOLERANCE

    def project(self, images: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """The nearest points of the ball, clipped to [0, 1] (float32)."""
        delta = images.astype(np.float64) - origin[None]
        if self.norm == "linf":
            delta = np.clip(delta, -self.epsilon, self.epsilon)
        else:
            norms = np.sqrt((delta.reshape(len(delta), -1) ** 2).sum(axis=1))
            scale = np.minimum(1.0, self.epsilon / np.maximum(norms, 1e-12))
            delta = delta * scale.reshape(-1, *([1] * (delta.ndim - 1)))
        return np.clip(origin[None] + delta, 0.0, 1.0).astype(np.float32)

    def describe(self) -> str:
        return f"{'ℓ∞' if self.norm == 'linf' else 'ℓ2'} ε={self.epsilon:.4g}"


def dataset_key(dataset: str) -> str:
    """The canonical dataset name (``fmnist``, ``cifar10``) for an alias or a variant such as
    ``fmnist-at``; other names unchanged."""
    key = _ALIASES.get(dataset.lower(), dataset.lower())
    for known in DATASET_EPSILONS:
        if key.startswith(f"{known}-"):
            return known
    return key


def default_threat(dataset: str, norm: str, epsilon: float | None = None) -> ThreatModel:
    """The budget for ``dataset`` under ``norm``; ``epsilon`` overrides it.

    Raises:
        InputError: no default is known for the dataset and none was given.
    """
    if epsilon is not None:
        return ThreatModel(norm, float(epsilon))
    known = DATASET_EPSILONS.get(dataset_key(dataset))
    if known is None:
        raise InputError(f"no default {norm} budget for dataset {dataset!r} (known: "
                         f"{sorted(DATASET_EPSILONS)}); pass --eps-{norm}")
    return ThreatModel(norm, known[norm])
