"""Per-image query accounting for a batch of images attacked together.

The same two rules as :mod:`matt.attacks.counter`, for many images at once:

* *online*: an image's first query inside its ε-ball whose returned answer was wrong;
* *offline*: at each budget, the attacker's candidate, the in-ball image with the lowest
  margin the attack has estimated so far (for an EOT attack, the margin of its average).

Rows are sent in submission order per image; an image's rows past its budget are not sent
(the step that crosses the budget is truncated there), and its attack is told which rows came
back. One ``target.predict`` call per :meth:`BatchCounter.query`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matt.attacks.counter import QueryTrace, margin_of
from matt.attacks.target import Target
from matt.attacks.threat import ThreatModel
from matt.errors import InputError


class BatchCounter:
    """The black box as a batched attack sees it: counted per image, budgeted, clipped.

    Args:
        target: the deployed system.
        images: the originals (N, C, H, W) float32 in [0, 1].
        labels: their true classes (N,).
        threat: the ball a query must lie in to count as an adversarial example.
        budgets: budgets to keep an offline candidate at; the largest caps every image.
    """

    def __init__(self, target: Target, images: np.ndarray, labels: np.ndarray,
                 threat: ThreatModel, budgets: Sequence[int]) -> None:
        if images.ndim != 4 or len(images) != len(labels):
            raise InputError(f"batch counter: images must be (N, C, H, W) with one label each, "
                             f"got {images.shape} and {len(labels)} labels")
        if not budgets or min(budgets) < 1:
            raise InputError(f"batch counter: budgets must be positive, got {list(budgets)}")
        self.target = target
        self.images = images.astype(np.float32)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.threat = threat
        self.budgets = tuple(sorted(set(int(b) for b in budgets)))
        self.max_queries = self.budgets[-1]
        count = len(images)
        self.used = np.zeros(count, dtype=np.int64)
        self.first_wrong = np.zeros(count, dtype=np.int64)  # 0: none yet
        self.stopped = np.zeros(count, dtype=bool)
        self.calls = 0
        self._best_margin = np.full(count, np.inf)
        self._best_image = np.zeros_like(self.images)
        self._has_candidate = np.zeros(count, dtype=bool)
        self._traces = [QueryTrace() for _ in range(count)]
        self._pending: list[tuple[int, int]] = []

    @property
    def queries_left(self) -> np.ndarray:
        return self.max_queries - self.used

    @property
    def active(self) -> np.ndarray:
        """Images whose attack goes on: budget left, not stopped by the attack."""
        return (self.queries_left > 0) & ~self.stopped

    def stop(self, owners: np.ndarray) -> None:
        """The attack ends these images (e.g. it believes them broken)."""
        self.stopped[owners] = True

    def query(self, owners: np.ndarray, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Send row ``r`` of ``batch`` as a query of image ``owners[r]``.

        Returns (probabilities (R, classes) with NaN rows where nothing was sent, ``sent``
        mask (R,)). Rows are sent in order per image until its budget is spent; a row with a
        non-finite pixel is never sent (a service would refuse it).
        """
        self._flush()
        owners = np.asarray(owners, dtype=np.int64)
        batch = np.clip(np.asarray(batch, dtype=np.float32), 0.0, 1.0)
        if len(owners) != len(batch):
            raise InputError("batch counter: one owner per row")
        rank = _rank_within_owner(owners)
        sent = (rank < self.queries_left[owners]) & np.isfinite(
            batch.reshape(len(batch), -1)).all(axis=1)
        probabilities = np.full((len(batch), self.target.num_classes), np.nan, np.float32)
        if sent.any():
            answered = np.asarray(self.target.predict(batch[sent]), dtype=np.float32)
            probabilities[sent] = answered
            self.calls += 1
            self._record(owners[sent], batch[sent], answered)
        if not self.target.randomized:  # a deterministic answer cannot change: done
            self.stopped |= self.first_wrong > 0
        return probabilities, sent

    def _record(self, owners: np.ndarray, batch: np.ndarray, answers: np.ndarray) -> None:
        """Number the sent rows per image and mark each image's first wrong in-ball answer."""
        inside = self.threat.contains_each(batch, self.images[owners])
        wrong = answers.argmax(axis=1) != self.labels[owners]
        # ranked again among the rows sent: a non-finite row is skipped, not numbered
        index = self.used[owners] + _rank_within_owner(owners) + 1  # 1-based query number
        hits = inside & wrong
        first = np.full(len(self.used), np.iinfo(np.int64).max)
        np.minimum.at(first, owners[hits], index[hits])
        newly = (self.first_wrong == 0) & (first < np.iinfo(np.int64).max)
        self.first_wrong[newly] = first[newly]
        before = self.used.copy()
        np.add.at(self.used, owners, 1)
        for budget in self.budgets:
            crossed = np.flatnonzero((before < budget) & (budget <= self.used))
            self._pending.extend((int(owner), budget) for owner in crossed)

    def offer(self, owners: np.ndarray, candidates: np.ndarray, margins: np.ndarray) -> None:
        """The attack's estimate of each candidate's margin (one candidate per image); the
        lowest in-ball one is the image's candidate."""
        owners = np.asarray(owners, dtype=np.int64)
        margins = np.asarray(margins, dtype=np.float64)
        if len(np.unique(owners)) != len(owners):
            raise InputError("batch counter: one candidate per image per offer")
        better = np.isfinite(margins) & (margins < self._best_margin[owners])
        better &= self.threat.contains_each(candidates, self.images[owners])
        chosen = owners[better]
        self._best_margin[chosen] = margins[better]
        self._best_image[chosen] = candidates[better]
        self._has_candidate[chosen] = True

    def _flush(self) -> None:
        """Budgets crossed since the last call keep the candidate the attack has now: the
        answers to the crossing step included (up to that step's extra rows)."""
        for owner, budget in self._pending:
            if self._has_candidate[owner]:
                trace = self._traces[owner]
                trace.candidates[budget] = self._best_image[owner].copy()
                trace.candidate_margins[budget] = float(self._best_margin[owner])
        self._pending = []

    def finish(self) -> list[QueryTrace]:
        """One trace per image; budgets an image never reached keep its last candidate."""
        self._flush()
        for owner, trace in enumerate(self._traces):
            trace.queries_used = int(self.used[owner])
            trace.first_wrong_query = int(self.first_wrong[owner]) or None
            if not self._has_candidate[owner]:
                continue
            for budget in self.budgets:
                if budget not in trace.candidates:
                    trace.candidates[budget] = self._best_image[owner].copy()
                    trace.candidate_margins[budget] = float(self._best_margin[owner])
        return self._traces


def _rank_within_owner(owners: np.ndarray) -> np.ndarray:
    """Each row's position among the rows of the same owner, in row order (0, 1, ...)."""
    order = np.argsort(owners, kind="stable")
    sorted_owners = owners[order]
    starts = np.searchsorted(sorted_owners, sorted_owners, side="left")
    rank = np.empty(len(owners), dtype=np.int64)
    rank[order] = np.arange(len(owners)) - starts
    return rank


def batch_margins(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The log-probability margin of each row against its own label (NaN rows stay NaN)."""
    margins = np.full(len(probabilities), np.nan)
    finite = np.isfinite(probabilities).all(axis=1)
    for label in np.unique(labels[finite]):
        rows = finite & (labels == label)
        margins[rows] = margin_of(probabilities[rows], int(label))
    return margins
