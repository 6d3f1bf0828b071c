"""Square (ℓ∞) and SimBA (ℓ2) from the Adversarial Robustness Toolbox, as the paper used them.

ART counts iterations; the counted black box is handed to it as a
``BlackBoxClassifierNeuralNetwork``, one image at a time, so every row ART predicts is a query
of that image. Each attack's ``max_iter`` is derived from the queries left, with the queries
ART spends per iteration (Square: three, SimBA: two), so that its schedules span the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from matt.attacks.base import Attack, check_positive
from matt.attacks.counter import QueryCounter, log_probabilities
from matt.attacks.threat import ThreatModel
from matt.errors import SpecError


def art_black_box(model: QueryCounter, image: np.ndarray, *, as_logits: bool):
    """The counted black box as an ART classifier over [0, 1] NCHW inputs.

    ``as_logits`` answers log-probabilities, which Square's margin loss needs (probabilities of a
    confident classifier saturate at 1 in float32); SimBA insists on probabilities.
    """
    from art.estimators.classification import BlackBoxClassifierNeuralNetwork

    def predict(images: np.ndarray) -> np.ndarray:
        return log_probabilities(model(images)) if as_logits else model(images)

    return BlackBoxClassifierNeuralNetwork(
        predict_fn=predict, input_shape=image.shape, nb_classes=model.target.num_classes,
        channels_first=True, clip_values=(0.0, 1.0),
    )


@dataclass(frozen=True)
class ArtSquareAttack(Attack):
    """Square Attack (Andriushchenko et al., 2020), ART's ``SquareAttack``, image by image.

    Kept beside the batched :class:`~matt.attacks.batched.BatchedSquare` (``square``) as the
    library's reference: the test suite checks that both break the same share of images.

    ``p_init`` is the fraction of pixels changed at the start (paper Table 6: 0.05 ~ 0.5; 0.05
    is the original authors' ℓ∞ setting, the strongest of the range); it halves on ART's schedule
    as the iterations pass.
    """

    p_init: float = 0.05
    restarts: int = 1

    name: ClassVar[str] = "square-art"
    norm: ClassVar[str] = "linf"
    uses_scores: ClassVar[bool] = True
    library: ClassVar[str] = "art"
    queries_per_iteration: ClassVar[int] = 3

    def __post_init__(self) -> None:
        check_positive("square", p_init=self.p_init, restarts=self.restarts)
        if self.p_init > 1:
            raise SpecError(f"square: p_init is a fraction of pixels in (0, 1], got {self.p_init}")

    def run(self, model: QueryCounter, image: np.ndarray, label: int, *, threat: ThreatModel,
            rng: np.random.Generator) -> None:
        from art.attacks.evasion import SquareAttack as ArtSquare

        iterations = max(1, math.ceil(model.queries_left / self.queries_per_iteration))
        estimator = art_black_box(model, image, as_logits=True)
        attack = ArtSquare(estimator, norm=np.inf, max_iter=iterations, eps=threat.epsilon,
                           p_init=self.p_init, nb_restarts=self.restarts, batch_size=1,
                           verbose=False)
        attack.generate(image[None], y=np.array([label]))


@dataclass(frozen=True)
class SimbaAttack(Attack):
    """SimBA-DCT (Guo et al., 2019), ART's ``SimBA``; ``step`` is η, 0.2 in paper Table 5.

    SimBA does not bound its perturbation: each accepted step adds η in ℓ2, so only its queries
    that stay inside the ε-ball can break an image.
    """

    step: float = 0.2
    basis: str = "dct"
    freq_dim: int = 4

    name: ClassVar[str] = "simba"
    norm: ClassVar[str] = "l2"
    uses_scores: ClassVar[bool] = True
    library: ClassVar[str] = "art"
    queries_per_iteration: ClassVar[int] = 2

    def __post_init__(self) -> None:
        check_positive("simba", step=self.step, freq_dim=self.freq_dim)
        if self.basis not in ("dct", "px"):
            raise SpecError(f"simba: basis must be 'dct' or 'px', not {self.basis!r}")

    def run(self, model: QueryCounter, image: np.ndarray, label: int, *, threat: ThreatModel,
            rng: np.random.Generator) -> None:
        from art.attacks.evasion import SimBA

        iterations = max(1, math.ceil(model.queries_left / self.queries_per_iteration))
        estimator = art_black_box(model, image, as_logits=False)
        attack = SimBA(estimator, attack=self.basis, max_iter=iterations, epsilon=self.step,
                       freq_dim=self.freq_dim, stride=1, batch_size=1, verbose=False)
        labels = np.eye(model.target.num_classes, dtype=np.float32)[[label]]
        attack.generate(image[None], y=labels)
