"""Per-image query accounting: every model call an attack makes goes through a counter.

The attack libraries count iterations, not queries, and some spend several queries per
iteration. The counter sees every image the attack submits for one original image, numbers
them 1, 2, 3, ..., and keeps what both scoring rules need:

* *online*: the first query inside the ε-ball whose returned answer was wrong;
* *offline*: at each budget, the attacker's candidate: the query inside the ball with the
  lowest returned margin so far (see :func:`margin_of`).

It stops the attack (by raising :class:`StopAttack`) when the budget is spent, and, for a
deterministic target, as soon as the answer was wrong (more queries cannot change the outcome).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from matt.attacks.target import Target
from matt.attacks.threat import ThreatModel
from matt.errors import InputError


class StopAttack(Exception):
    """Raised through the attack library to end an attack early; never escapes ``Attack``."""


class QueryBudgetExhausted(StopAttack):
    """The image's query budget is spent."""


class TargetFooled(StopAttack):
    """A deterministic target answered wrong inside the ball: the image is broken for good."""


class AttackDiverged(StopAttack):
    """The attack library asked for an image with NaN or infinite pixels (Foolbox's Boundary
    can, when a random answer collapses its step): a service would refuse it, so it is not
    sent, not counted, and the attack ends with what it had."""


@dataclass
class QueryTrace:
    """What one attack on one image left behind.

    Attributes:
        queries_used: queries the attack made (its first is the clean image).
        first_wrong_query: 1-based index of the first in-ball query answered wrong, or None.
        candidates: per budget, the attacker's candidate image after that many queries.
        candidate_margins: per budget, the margin the target returned for that candidate.
    """

    queries_used: int = 0
    first_wrong_query: int | None = None
    candidates: dict[int, np.ndarray] = field(default_factory=dict)
    candidate_margins: dict[int, float] = field(default_factory=dict)


class QueryCounter:
    """The black box as one attack on one image sees it: counted, budgeted, clipped to [0, 1].

    Args:
        target: the deployed system.
        image: the original image (C, H, W) float32 in [0, 1].
        label: its true class.
        threat: the perturbation budget that decides whether a query is a valid adversarial.
        budgets: query budgets to keep an offline candidate at; the largest is the hard cap.
    """

    def __init__(self, target: Target, image: np.ndarray, label: int, threat: ThreatModel,
                 budgets: Sequence[int]) -> None:
        if image.ndim != 3:
            raise InputError(f"query counter: image must be (C, H, W), got shape {image.shape}")
        if not budgets or min(budgets) < 1:
            raise InputError(f"query counter: budgets must be positive, got {list(budgets)}")
        self.target = target
        self.image = image.astype(np.float32)
        self.label = int(label)
        self.threat = threat
        self.budgets = tuple(sorted(set(int(b) for b in budgets)))
        self.max_queries = self.budgets[-1]
        self.trace = QueryTrace()
        self._best_margin = np.inf
        self._best_image: np.ndarray | None = None

    @property
    def queries_left(self) -> int:
        return self.max_queries - self.trace.queries_used

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Query the target with a batch for this image; probabilities (N, classes).

        Raises:
            QueryBudgetExhausted: the budget ran out (rows past it were not sent).
            TargetFooled: a deterministic target was fooled inside the ball.
            AttackDiverged: a row was not finite (nothing of the batch is sent).
        """
        images = np.asarray(images, dtype=np.float32).reshape(-1, *self.image.shape)
        if not np.isfinite(images).all():
            raise AttackDiverged
        if self.queries_left <= 0:
            raise QueryBudgetExhausted
        allowed = min(len(images), self.queries_left)
        batch = np.clip(images[:allowed], 0.0, 1.0)
        probabilities = np.asarray(self.target.predict(batch), dtype=np.float32)
        self._record(batch, probabilities)
        if allowed < len(images):
            raise QueryBudgetExhausted
        if self.trace.first_wrong_query is not None and not self.target.randomized:
            raise TargetFooled
        return probabilities

    def _record(self, batch: np.ndarray, probabilities: np.ndarray) -> None:
        inside = self.threat.contains(batch, self.image)
        wrong = probabilities.argmax(axis=1) != self.label
        margins = margin_of(probabilities, self.label)
        first = self.trace.queries_used
        for row in range(len(batch)):
            index = first + row + 1
            if inside[row]:
                if wrong[row] and self.trace.first_wrong_query is None:
                    self.trace.first_wrong_query = index
                if margins[row] < self._best_margin:
                    self._best_margin = float(margins[row])
                    self._best_image = batch[row].copy()
            if index in self.budgets and self._best_image is not None:
                self.trace.candidates[index] = self._best_image
                self.trace.candidate_margins[index] = self._best_margin
        self.trace.queries_used = first + len(batch)

    def finish(self) -> QueryTrace:
        """Close the trace: budgets the attack never reached keep its last candidate."""
        for budget in self.budgets:
            if budget not in self.trace.candidates and self._best_image is not None:
                self.trace.candidates[budget] = self._best_image
                self.trace.candidate_margins[budget] = self._best_margin
        return self.trace


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Log of returned probabilities, floored so that a zero stays finite."""
    return np.log(np.maximum(probabilities, 1e-30)).astype(np.float32)


def margin_of(probabilities: np.ndarray, label: int) -> np.ndarray:
    """True-class log-probability minus the highest other one, per row (< 0: misclassified).

    This is the logit margin the score-based attacks optimise; unlike a margin of probabilities
    it does not saturate when the classifier is confident (p = 1 - 1e-9 rounds to 1 in float32).
    """
    logs = log_probabilities(probabilities)
    others = logs.copy()
    others[:, label] = -np.inf
    return logs[:, label] - others.max(axis=1)
