"""The attack contract: one ``run`` per attack; the base does the accounting.

A subclass writes :meth:`Attack.run`, which drives a library (or its own loop) against the
counted black box it is given. The final :meth:`Attack.__call__` builds the per-image
:class:`~matt.attacks.counter.QueryCounter`, spends query 1 on the clean image (what any
attacker first asks the service), seeds the libraries when a seed is given, stops the attack
when the counter says so, and returns the trace both scoring rules are computed from.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from matt.attacks.counter import QueryCounter, QueryTrace, StopAttack
from matt.attacks.target import Target
from matt.attacks.threat import ThreatModel
from matt.errors import SpecError


@dataclass(frozen=True)
class Attack(ABC):
    """A query-based attack; hyper-parameters are the dataclass fields of a subclass.

    Class attributes:
        name: registry name (``nes``, ``simba``, ...).
        norm: the norm it perturbs in (``linf`` or ``l2``).
        uses_scores: score-based (reads probabilities) or decision-based (reads labels only).
        library: where the algorithm comes from (``matt``, ``art``, ``foolbox``).
    """

    name: ClassVar[str]
    norm: ClassVar[str]
    uses_scores: ClassVar[bool]
    library: ClassVar[str]

    def __call__(self, target: Target, image: np.ndarray, label: int, *, threat: ThreatModel,
                 budgets: Sequence[int], seed: int | None = None) -> QueryTrace:
        """Attack one image (C, H, W) in [0, 1] of class ``label`` until the largest budget."""
        if threat.norm != self.norm:
            raise SpecError(f"attack {self.name} works in {self.norm}, the threat model is "
                            f"{threat.norm}")
        counter = QueryCounter(target, image, label, threat, budgets)
        if seed is not None:
            np.random.seed(seed % 2**32)
            random.seed(seed)
        rng = np.random.default_rng(seed)
        try:
            counter(counter.image[None])
            self.run(counter, counter.image, counter.label, threat=threat, rng=rng)
        except StopAttack:
            pass
        return counter.finish()

    @abstractmethod
    def run(self, model: QueryCounter, image: np.ndarray, label: int, *, threat: ThreatModel,
            rng: np.random.Generator) -> None:
        """Attack ``image`` through ``model`` (a counted black box: batch → probabilities).

        ``model.queries_left`` says how much budget remains; running past it raises
        :class:`~matt.attacks.counter.StopAttack`, which the base catches. Libraries that use
        NumPy's global generator are seeded by the base; own loops use ``rng``.
        """

    def hyper_parameters(self) -> dict[str, Any]:
        """The settings, for the results file."""
        return {"library": self.library, "norm": self.norm, **asdict(self)}


def check_positive(owner: str, **values: float) -> None:
    """Refuse hyper-parameters that are not finite and > 0."""
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
            raise SpecError(f"{owner}: {name} must be > 0, got {value!r}")
