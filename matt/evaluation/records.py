"""Per-image outcomes and their summaries under the two scoring rules.

*Online* (the headline): an image is broken at budget b if one of the attack's first b queries
lay inside the ε-ball and the service's returned answer was wrong: the attacker has seen the
service fooled. *Offline*: the attacker's candidate after b queries (its in-ball query with the
lowest returned margin) is sent again ``fresh_queries`` times; the image is broken if most
answers are wrong. Once broken offline, an image stays broken at larger budgets (the attacker
keeps the image it had). For a deterministic target both rules agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from matt.attacks import QueryTrace, Target
from matt.core.stats import wilson_interval


@dataclass
class ImageRecord:
    """One attack on one image.

    Attributes:
        image: position in the evaluation set.
        queries_used: queries the attack made (at most the largest budget).
        first_wrong_query: 1-based index of the first in-ball query answered wrong, or None.
        offline_broken: per budget, whether the candidate was broken by the offline rule.
        candidate_margin: returned log-probability margin of the final candidate.
        seconds: wall time of the attack and the offline check.
    """

    image: int
    queries_used: int
    first_wrong_query: int | None
    offline_broken: dict[int, bool]
    candidate_margin: float
    seconds: float

    def broken_online(self, budget: int) -> bool:
        return self.first_wrong_query is not None and self.first_wrong_query <= budget

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["offline_broken"] = {str(k): v for k, v in self.offline_broken.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageRecord:
        return cls(int(data["image"]), int(data["queries_used"]),
                   None if data["first_wrong_query"] is None else int(data["first_wrong_query"]),
                   {int(k): bool(v) for k, v in data["offline_broken"].items()},
                   float(data["candidate_margin"]), float(data["seconds"]))


def judge_offline(target: Target, trace: QueryTrace, label: int, fresh_queries: int
                  ) -> dict[int, bool]:
    """The offline rule at every budget of ``trace`` (see the module docstring)."""
    repeats = fresh_queries if target.randomized else 1
    verdicts: dict[int, bool] = {}
    broken, last_candidate = False, None
    for budget in sorted(trace.candidates):
        candidate = trace.candidates[budget]
        if not broken and candidate is not last_candidate:
            answers = target.predict(np.repeat(candidate[None], repeats, axis=0))
            broken = int((answers.argmax(axis=1) != label).sum()) * 2 > repeats
            last_candidate = candidate
        verdicts[budget] = broken
    return verdicts


def judge_offline_batch(target: Target, traces: Sequence[QueryTrace], labels: np.ndarray,
                        fresh_queries: int) -> list[dict[int, bool]]:
    """:func:`judge_offline` for many traces, every fresh query in one target call."""
    repeats = fresh_queries if target.randomized else 1
    rows: list[np.ndarray] = []
    row_labels: list[int] = []
    asked: list[list[tuple[int, int | None]]] = []  # per trace: (budget, row of its candidate)
    for trace, label in zip(traces, labels, strict=True):
        plan: list[tuple[int, int | None]] = []
        last: np.ndarray | None = None
        for budget in sorted(trace.candidates):
            candidate = trace.candidates[budget]
            if last is None or not np.array_equal(candidate, last):
                plan.append((budget, len(rows)))
                rows.append(candidate)
                row_labels.append(int(label))
                last = candidate
            else:
                plan.append((budget, None))
        asked.append(plan)
    wrong = np.zeros(0, dtype=np.int64)
    if rows:
        answers = target.predict(np.repeat(np.stack(rows), repeats, axis=0)).argmax(axis=1)
        owners = np.repeat(np.arange(len(rows)), repeats)
        expected = np.asarray(row_labels, dtype=np.int64)[owners]
        wrong = np.bincount(owners, weights=answers != expected,
                            minlength=len(rows)).astype(np.int64)
    verdicts: list[dict[int, bool]] = []
    for plan in asked:
        broken, verdict = False, {}
        for budget, row in plan:
            if not broken and row is not None:
                broken = int(wrong[row]) * 2 > repeats
            verdict[budget] = broken
        verdicts.append(verdict)
    return verdicts


@dataclass
class CellSummary:
    """Robust accuracy of one attack against one defense, by budget, under both rules."""

    attack: str
    defense: str
    n_images: int
    online: dict[int, float] = field(default_factory=dict)
    offline: dict[int, float] = field(default_factory=dict)
    mean_queries: float = 0.0
    seconds: float = 0.0

    @classmethod
    def from_records(cls, attack: str, defense: str, records: Sequence[ImageRecord],
                     budgets: Sequence[int]) -> CellSummary:
        count = len(records)
        if count == 0:
            return cls(attack, defense, 0)
        online = {b: sum(not r.broken_online(b) for r in records) / count for b in budgets}
        offline = {b: sum(not r.offline_broken.get(b, False) for r in records) / count
                   for b in budgets}
        return cls(attack, defense, count, online, offline,
                   float(np.mean([r.queries_used for r in records])),
                   float(sum(r.seconds for r in records)))

    def intervals(self, rule: str) -> dict[int, tuple[float, float]]:
        """Wilson 95 % intervals of a rule's robust accuracy, by budget."""
        rates = self.online if rule == "online" else self.offline
        return {b: wilson_interval(round(v * self.n_images), self.n_images)
                for b, v in rates.items()}

    def to_dict(self) -> dict[str, Any]:
        def interval(rule: str) -> dict[str, list[float]]:
            return {str(b): [round(low, 4), round(high, 4)]
                    for b, (low, high) in self.intervals(rule).items()}

        return {"attack": self.attack, "defense": self.defense, "n_images": self.n_images,
                "online": {str(b): round(v, 4) for b, v in self.online.items()},
                "offline": {str(b): round(v, 4) for b, v in self.offline.items()},
                "online_interval": interval("online"), "offline_interval": interval("offline"),
                "mean_queries": round(self.mean_queries, 1), "seconds": round(self.seconds, 1)}


def online_curve(records: Sequence[ImageRecord], max_queries: int) -> np.ndarray:
    """Robust accuracy (online rule) after 0, 1, ..., ``max_queries`` queries (Figure 5)."""
    unbroken = np.ones(max_queries + 1)
    if not records:
        return unbroken * np.nan
    broken_at = np.zeros(max_queries + 2)
    for record in records:
        if record.first_wrong_query is not None and record.first_wrong_query <= max_queries:
            broken_at[record.first_wrong_query] += 1
    return 1.0 - np.cumsum(broken_at)[: max_queries + 1] / len(records)


def no_attack_summary(repeats: dict[str, Any], budgets: tuple[int, ...]) -> dict[str, Any]:
    """The online rule applied to the clean image sent again and again, per budget.

    Per image, the chance that b independent queries are all answered right, (1 - p)^b, from
    its measured wrong-answer rate p; averaged over the images. Budgets above the number of
    repeats sent are listed under ``extrapolated``: there an image never seen wrong counts as
    never wrong, so the value is an upper bound.
    """
    sent = int(repeats["queries"])
    rates = np.asarray(repeats["wrong"], dtype=float) / sent
    online = {str(b): float(np.mean((1 - rates) ** b)) for b in budgets}
    return {"queries": sent, "per_query_error": round(float(rates.mean()), 5),
            "images_ever_wrong": int((rates > 0).sum()), "n_images": int(rates.size),
            "online": online, "extrapolated": [b for b in budgets if b > sent and sent > 1]}
