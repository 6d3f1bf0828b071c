"""The batched attack contract: subclasses write :meth:`BatchedAttack.run_batch`.

The final :meth:`BatchedAttack.attack_batch` builds the :class:`BatchCounter`, spends query 1
of every image on the clean image (what any attacker first asks), and returns one trace per
image; the per-image :meth:`__call__` of :class:`~matt.attacks.Attack` is the batch of one.
EOT (expectation over transformation) is a property of every batched attack here: with
``eot_samples`` M > 1 each candidate is sent M times, every answer counted against the budget
and seen by the online rule, and the attack acts on the mean of the M probability vectors
(Athalye et al., 2018; Croce et al., 2022, for randomized defenses).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from matt.attacks.base import Attack
from matt.attacks.batched.counter import BatchCounter, batch_margins
from matt.attacks.counter import QueryCounter, QueryTrace
from matt.attacks.target import Target
from matt.attacks.threat import ThreatModel
from matt.errors import SpecError


@dataclass(frozen=True)
class BatchedAttack(Attack):
    """An attack whose images advance together; ``eot_samples`` is EOT's M (1: plain)."""

    eot_samples: int = 1

    batched: ClassVar[bool] = True
    library: ClassVar[str] = "matt"

    def __post_init__(self) -> None:
        if not isinstance(self.eot_samples, int) or self.eot_samples < 1:
            raise SpecError(f"{self.name}: eot_samples must be an integer >= 1, got "
                            f"{self.eot_samples!r}")

    def attack_batch(self, target: Target, images: np.ndarray, labels: np.ndarray, *,
                     threat: ThreatModel, budgets: Sequence[int], seed: int | None = None
                     ) -> list[QueryTrace]:
        """Attack every image (N, C, H, W) in [0, 1] until its largest budget."""
        if threat.norm != self.norm:
            raise SpecError(f"attack {self.name} works in {self.norm}, the threat model is "
                            f"{threat.norm}")
        counter = BatchCounter(target, images, labels, threat, budgets)
        everyone = np.arange(len(images))
        probabilities, _ = counter.query(everyone, counter.images)
        counter.offer(everyone, counter.images, batch_margins(probabilities, counter.labels))
        self.run_batch(counter, threat=threat, rng=np.random.default_rng(seed))
        return counter.finish()

    def __call__(self, target: Target, image: np.ndarray, label: int, *, threat: ThreatModel,
                 budgets: Sequence[int], seed: int | None = None) -> QueryTrace:
        return self.attack_batch(target, image[None], np.array([label]), threat=threat,
                                 budgets=budgets, seed=seed)[0]

    def run(self, model: QueryCounter, image: np.ndarray, label: int, *, threat: ThreatModel,
            rng: np.random.Generator) -> None:
        raise SpecError(f"{self.name} is batched: call attack_batch or the attack itself")

    @abstractmethod
    def run_batch(self, counter: BatchCounter, *, threat: ThreatModel,
                  rng: np.random.Generator) -> None:
        """Attack through ``counter`` until no image is active."""

    def averaged(self, counter: BatchCounter, owners: np.ndarray, batch: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Each row sent ``eot_samples`` times; (mean probabilities, all-sent mask) per row."""
        samples = self.eot_samples
        repeated_owners = np.repeat(owners, samples)
        answers, sent = counter.query(repeated_owners, np.repeat(batch, samples, axis=0))
        answers = answers.reshape(len(batch), samples, -1)
        complete = sent.reshape(len(batch), samples).all(axis=1)
        mean = np.full((len(batch), answers.shape[-1]), np.nan, np.float32)
        if complete.any():
            mean[complete] = answers[complete].mean(axis=1)
        return mean, complete
