"""NES (Ilyas et al., 2018): natural-evolution-strategies gradient estimate + signed PGD, ℓ∞.

Written here, as the paper did (it has no maintained library implementation). Each iteration
spends ``samples`` queries on antithetic Gaussian probes x ± σu around the current iterate,
which estimate the gradient of the margin loss (true-class log-probability minus the best other
one: the logit margin, which unlike the probability does not saturate), and one query on the iterate
itself (as Ilyas et al.'s loop checks it); the iterate takes a signed step down the estimate and
is projected back into the ε-ball.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from matt.attacks.base import Attack, check_positive
from matt.attacks.counter import QueryCounter, margin_of
from matt.attacks.threat import ThreatModel
from matt.errors import SpecError


@dataclass(frozen=True)
class NesAttack(Attack):
    """Hyper-parameters (paper Table 4, CIFAR-10): ``learning_rate`` 0.01, ``samples`` q = 100;
    ``sigma`` is Ilyas et al.'s search variance 0.001."""

    learning_rate: float = 0.01
    samples: int = 100
    sigma: float = 0.001

    name: ClassVar[str] = "nes"
    norm: ClassVar[str] = "linf"
    uses_scores: ClassVar[bool] = True
    library: ClassVar[str] = "matt"

    def __post_init__(self) -> None:
        check_positive("nes", learning_rate=self.learning_rate, sigma=self.sigma)
        if not isinstance(self.samples, int) or self.samples < 2 or self.samples % 2:
            raise SpecError(f"nes: samples must be an even integer >= 2, got {self.samples!r}")

    def run(self, model: QueryCounter, image: np.ndarray, label: int, *, threat: ThreatModel,
            rng: np.random.Generator) -> None:
        adversarial = image.copy()
        while model.queries_left > 0:
            gradient = self._estimate_gradient(model, adversarial, label, rng)
            stepped = adversarial - self.learning_rate * np.sign(gradient)
            adversarial = threat.project(stepped[None], image)[0]
            model(adversarial[None])

    def _estimate_gradient(self, model: QueryCounter, point: np.ndarray, label: int,
                           rng: np.random.Generator) -> np.ndarray:
        half = rng.standard_normal((self.samples // 2, *point.shape)).astype(np.float32)
        directions = np.concatenate([half, -half])
        probes = np.clip(point[None] + self.sigma * directions, 0.0, 1.0)
        losses = margin_of(model(probes), label)
        weights = (losses - losses.mean()).reshape(-1, *([1] * point.ndim))
        return (weights * directions).mean(axis=0) / self.sigma
