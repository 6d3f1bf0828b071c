"""Square Attack, ℓ∞ (Andriushchenko et al., ECCV 2020, Algorithm 1), batched, and its EOT form.

Written here against the published update rule, so that every image advances in the same
target call: start from vertical ±ε stripes; at each iteration propose, per image, one square
window of side s (from the fraction p of pixels, halved on the authors' schedule) set to a
random ±ε per channel, keep it if the margin loss fell. One query per proposal (M with EOT).
An image stops when its best margin is negative (the attack believes it broken), as in the
authors' code; the schedule spans the query budget, as ART's ``max_iter`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from matt.attacks.base import check_positive
from matt.attacks.batched.base import BatchedAttack
from matt.attacks.batched.counter import BatchCounter, batch_margins
from matt.attacks.threat import ThreatModel
from matt.errors import SpecError

# (fraction of the schedule done, divisor of p_init) from the authors' p_selection
_SCHEDULE = ((0.001, 1), (0.005, 2), (0.02, 4), (0.05, 8), (0.1, 16), (0.2, 32), (0.4, 64),
             (0.6, 128), (0.8, 256))


def square_fraction(p_init: float, iteration: int, iterations: int) -> float:
    """p at ``iteration`` of ``iterations``: p_init, halved at the authors' milestones."""
    done = iteration / max(1, iterations)
    for milestone, divisor in _SCHEDULE:
        if done <= milestone:
            return p_init / divisor
    return p_init / 512


@dataclass(frozen=True)
class BatchedSquare(BatchedAttack):
    """``p_init``: fraction of pixels in the first squares (0.05 the authors' ℓ∞ setting for
    CIFAR-10 and ImageNet, 0.8 theirs for MNIST)."""

    p_init: float = 0.05

    name: ClassVar[str] = "square"
    norm: ClassVar[str] = "linf"
    uses_scores: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("square", p_init=self.p_init)
        if self.p_init > 1:
            raise SpecError(f"square: p_init is a fraction of pixels in (0, 1], got {self.p_init}")

    def run_batch(self, counter: BatchCounter, *, threat: ThreatModel,
                  rng: np.random.Generator) -> None:
        originals, labels, epsilon = counter.images, counter.labels, threat.epsilon
        count, channels, height, width = originals.shape
        everyone = np.arange(count)
        stripes = rng.choice([-epsilon, epsilon], size=(count, channels, 1, width))
        best = np.clip(originals + stripes, 0, 1).astype(np.float32)
        probabilities, _ = self.averaged(counter, everyone, best)
        best_margin = batch_margins(probabilities, labels)
        counter.offer(everyone, best, best_margin)
        iterations = math.ceil(counter.max_queries / self.eot_samples)
        rows, cols = np.arange(height)[None, :], np.arange(width)[None, :]
        for iteration in range(iterations):
            counter.stop(everyone[~(best_margin > 0)])  # believed broken (or NaN: no answer)
            todo = everyone[counter.active]
            if not len(todo):
                return
            fraction = square_fraction(self.p_init, iteration, iterations)
            side = min(max(round(math.sqrt(fraction * height * width)), 1), height - 1)
            tops = rng.integers(0, height - side + 1, size=len(todo))[:, None]
            lefts = rng.integers(0, width - side + 1, size=len(todo))[:, None]
            window = (((rows >= tops) & (rows < tops + side))[:, :, None]
                      & ((cols >= lefts) & (cols < lefts + side))[:, None, :])[:, None]
            proposal = self._propose(originals[todo], best[todo], window, epsilon, rng)
            probabilities, _ = self.averaged(counter, todo, proposal)
            margins = batch_margins(probabilities, labels[todo])
            improved = margins < best_margin[todo]
            best[todo[improved]] = proposal[improved]
            best_margin[todo[improved]] = margins[improved]
            counter.offer(todo, proposal, margins)

    @staticmethod
    def _propose(originals: np.ndarray, best: np.ndarray, window: np.ndarray, epsilon: float,
                 rng: np.random.Generator, tries: int = 10) -> np.ndarray:
        """``best`` with the window set to clip(x ± ε) per channel; re-drawn (as the authors
        do) while the window would not change."""
        count, channels = originals.shape[:2]
        proposal = best.copy()
        redraw = np.ones(count, dtype=bool)
        for _ in range(tries):
            signs = rng.choice([-epsilon, epsilon], size=(int(redraw.sum()), channels, 1, 1))
            candidate = np.clip(originals[redraw] + signs, 0, 1)
            proposal[redraw] = np.where(window[redraw], candidate, best[redraw])
            unchanged = ~((proposal != best) & window).reshape(count, -1).any(axis=1)
            redraw = unchanged
            if not redraw.any():
                break
        return proposal.astype(np.float32)


@dataclass(frozen=True)
class EotSquare(BatchedSquare):
    """Square against a random defense: each proposal's answer averaged over M fresh queries
    (M chosen by measurement at equal budgets; docs/evaluation.md)."""

    eot_samples: int = 4

    name: ClassVar[str] = "eot-square"
