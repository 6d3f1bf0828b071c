"""Boundary (ℓ2) and HopSkipJump (ℓ∞) from Foolbox 3, as the paper used them.

The counted black box is wrapped as a Foolbox ``NumPyModel`` returning log-probabilities, one
image at a time, so every row Foolbox evaluates is a query of that image. Both attacks run
until the counter's budget stops them; their own step limits are set high enough never to stop
first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from matt.attacks.base import Attack, check_positive
from matt.attacks.counter import QueryCounter, log_probabilities
from matt.attacks.threat import ThreatModel
from matt.errors import SpecError

# Foolbox raises this (a ValueError) when its initial attack finds no misclassified start.
_INIT_FAILED = "init_attack failed"
# Foolbox's HopSkipJump asserts that its points on the boundary are still misclassified when
# asked again; a random defense can answer otherwise, and the attack gives up there.


def foolbox_model(model: QueryCounter):
    """The counted black box as a Foolbox model over [0, 1] NCHW inputs (log-probabilities)."""
    import foolbox

    def logits(images: np.ndarray) -> np.ndarray:
        return log_probabilities(model(images))

    return foolbox.models.NumPyModel(logits, bounds=(0.0, 1.0),
                                     data_format="channels_first")


def _run_foolbox(attack: object, model: QueryCounter, image: np.ndarray, label: int) -> None:
    import foolbox

    criterion = foolbox.criteria.Misclassification(np.array([label]))
    try:
        attack.run(foolbox_model(model), image[None], criterion)  # type: ignore[attr-defined]
    except ValueError as error:
        if _INIT_FAILED not in str(error):
            raise
        # No starting point was found within the budget: the attack failed on this image.
    except AssertionError:
        if not model.target.randomized:
            raise
        # The random defense contradicted the attack's own bookkeeping: the attack ends with
        # what the counter recorded.


@dataclass(frozen=True)
class BoundaryAttack(Attack):
    """Boundary Attack (Brendel et al., 2018), Foolbox's ``BoundaryAttack``; paper Table 7."""

    spherical_step: float = 0.01
    source_step: float = 0.01
    source_step_convergence: float = 1e-7
    step_adaptation: float = 1.5

    name: ClassVar[str] = "boundary"
    norm: ClassVar[str] = "l2"
    uses_scores: ClassVar[bool] = False
    library: ClassVar[str] = "foolbox"

    def __post_init__(self) -> None:
        check_positive("boundary", spherical_step=self.spherical_step,
                       source_step=self.source_step,
                       source_step_convergence=self.source_step_convergence,
                       step_adaptation=self.step_adaptation)

    def run(self, model: QueryCounter, image: np.ndarray, label: int, *, threat: ThreatModel,
            rng: np.random.Generator) -> None:
        import foolbox

        attack = foolbox.attacks.BoundaryAttack(
            steps=model.queries_left, spherical_step=self.spherical_step,
            source_step=self.source_step, source_step_convergance=self.source_step_convergence,
            step_adaptation=self.step_adaptation,
        )
        _run_foolbox(attack, model, image, label)


@dataclass(frozen=True)
class HopSkipJumpAttack(Attack):
    """HopSkipJump (Chen et al., 2020), Foolbox's ``HopSkipJumpAttack`` under ℓ∞; paper Table 8:
    ``gradient_samples`` n = 100, ``gamma`` γ = 1."""

    gradient_samples: int = 100
    gamma: float = 1.0
    max_gradient_samples: int = 10000

    name: ClassVar[str] = "hopskipjump"
    norm: ClassVar[str] = "linf"
    uses_scores: ClassVar[bool] = False
    library: ClassVar[str] = "foolbox"

    def __post_init__(self) -> None:
        check_positive("hopskipjump", gradient_samples=self.gradient_samples, gamma=self.gamma)
        if self.max_gradient_samples < self.gradient_samples:
            raise SpecError("hopskipjump: max_gradient_samples must be >= gradient_samples")

    def run(self, model: QueryCounter, image: np.ndarray, label: int, *, threat: ThreatModel,
            rng: np.random.Generator) -> None:
        import foolbox

        attack = foolbox.attacks.HopSkipJumpAttack(
            steps=model.queries_left, initial_gradient_eval_steps=self.gradient_samples,
            max_gradient_eval_steps=self.max_gradient_samples, gamma=self.gamma,
            constraint="linf",
        )
        _run_foolbox(attack, model, image, label)
