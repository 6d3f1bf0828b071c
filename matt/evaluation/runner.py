"""Runs attack × defense cells, resumably, and measures clean accuracy.

Images are taken in rounds of ``chunk``: every cell gets the round's images before the next
round starts, so a run stopped early (``--time-limit``, a lost session) has results for every
cell over the same first images. A batched attack (:mod:`matt.attacks.batched`) attacks the
round's missing images together, one target call per step, and checkpoints them when the round
is done; the others go image by image, each checkpointed at once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from matt.attacks import Attack, BatchedAttack, Target, ThreatModel
from matt.errors import SpecError
from matt.evaluation.checkpoint import CellCheckpoint, slug
from matt.evaluation.dataset import EvalSet
from matt.evaluation.defenses import DefenseSetting
from matt.evaluation.records import ImageRecord, judge_offline, judge_offline_batch
from matt.evaluation.targets import TargetFactory

# Fewest queries per call of the no-attack row: 25 was the fastest of 10 / 25 / 100 for MATT
# and the DISCO ensemble on fmnist in torch (one thread; 100 spends its time allocating). A
# larger round (--chunk) sends calls of the round's size, the size the attacks send: ONNX
# Runtime's pipeline shares each call among its workers.
REPEAT_BATCH = 25


@dataclass(frozen=True)
class EvalPlan:
    """How the cells are run.

    Attributes:
        budgets: query budgets robust accuracy is reported at; the largest caps each attack.
        threats: the ε-ball per norm (``linf``, ``l2``).
        fresh_queries: odd number of fresh queries the offline rule takes a majority of.
        clean_repeats: passes over the clean images for a random defense's clean accuracy.
        seed: ``None``: OS randomness everywhere; an integer makes every draw reproducible.
        chunk: images per round (see the module docstring).
    """

    budgets: tuple[int, ...]
    threats: tuple[ThreatModel, ...]
    fresh_queries: int = 5
    clean_repeats: int = 3
    seed: int | None = None
    chunk: int = 10

    def __post_init__(self) -> None:
        if not self.budgets or min(self.budgets) < 1 or list(self.budgets) != sorted(
                set(self.budgets)):
            raise SpecError(f"budgets must be distinct, increasing and >= 1, got {self.budgets}")
        if self.fresh_queries < 1 or self.fresh_queries % 2 == 0:
            raise SpecError(f"fresh_queries must be odd and >= 1, got {self.fresh_queries}")
        if self.clean_repeats < 1 or self.chunk < 1:
            raise SpecError("clean_repeats and chunk must be >= 1")

    def threat(self, norm: str) -> ThreatModel:
        for threat in self.threats:
            if threat.norm == norm:
                return threat
        raise SpecError(f"no {norm} budget in the plan")


def derive_seed(seed: int | None, *parts: object) -> int | None:
    """A stable per-(cell, image) seed from the run's seed; ``None`` stays ``None``."""
    if seed is None:
        return None
    text = "|".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


class TimeUp(Exception):
    """The run's time limit passed; what is checkpointed stays."""


class Evaluator:
    """Cells over one evaluation set, checkpointed under ``checkpoint_dir``.

    ``attacks`` holds the configured attacks by name; ``factories`` the target factory of each
    defense label; ``models`` describes the weights (``weights``, ``at_weights``, ...): the
    ones a defense uses are part of its checkpoints' fingerprint.
    """

    def __init__(self, eval_set: EvalSet, plan: EvalPlan, checkpoint_dir: Path,
                 attacks: dict[str, Attack], factories: dict[str, TargetFactory],
                 models: dict[str, str], deadline: float | None = None) -> None:
        self.eval_set = eval_set
        self.attacks = attacks
        self.plan = plan
        self.checkpoint_dir = checkpoint_dir
        self.factories = factories
        self.models = models
        self.deadline = deadline
        self._checkpoints: dict[tuple[str, str], CellCheckpoint] = {}

    def _models_of(self, setting: DefenseSetting) -> dict[str, str]:
        """The weights a defense runs on: the adversarially trained twin for ``at`` and
        ``matt-at``, the standard ones (or the bundle) otherwise; a live server for ``remote``."""
        if setting.name == "remote":
            return {"remote": "live server"}
        if setting.name in ("at", "matt-at"):
            return {k: v for k, v in self.models.items() if k == "at_weights"}
        return {k: v for k, v in self.models.items() if k != "at_weights"}

    def _check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeUp

    def clean_accuracy(self, setting: DefenseSetting, images: EvalSet | None = None,
                       name: str = "clean", compute: bool = True) -> float | None:
        """Fraction of clean answers that are right (``clean_repeats`` passes if random);
        ``compute=False`` only reads the checkpoint (``None`` when it is not there)."""
        images = images or self.eval_set

        def measure(target: Target) -> dict[str, Any]:
            passes = self.plan.clean_repeats if target.randomized else 1
            correct = [(target.predict(images.images).argmax(axis=1) == images.labels).mean()
                       for _ in range(passes)]
            return {"accuracy": float(np.mean(correct))}

        values = self._measured(name, setting, images, {"repeats": self.plan.clean_repeats},
                                measure, compute)
        return None if values is None else float(values["accuracy"])

    def repeated_clean(self, setting: DefenseSetting, queries: int, compute: bool = True
                       ) -> dict[str, Any] | None:
        """Every evaluation image sent unchanged ``queries`` times (once if deterministic).

        What the online rule counts with no attack at all: a random defense that answers an
        image wrong now and then is "broken" by mere repetition. Per image: the number of wrong
        answers. ``compute=False`` only reads the checkpoint (``None`` when it is not there).
        """
        images = self.eval_set

        def measure(target: Target) -> dict[str, Any]:
            sent = queries if target.randomized else 1
            owners = np.repeat(np.arange(len(images.labels)), sent)  # the image of each query
            wrong = np.zeros(len(images.labels), dtype=np.int64)
            rows = max(REPEAT_BATCH, self.plan.chunk)
            with tqdm(total=len(owners), desc=f"no attack vs {setting.label}", unit="query",
                      mininterval=2) as bar:
                for start in range(0, len(owners), rows):
                    owner = owners[start:start + rows]
                    answers = target.predict(images.images[owner]).argmax(axis=1)
                    np.add.at(wrong, owner, answers != images.labels[owner])
                    bar.update(len(owner))
            return {"queries": sent, "wrong": wrong.tolist()}

        return self._measured("repeat", setting, images, {"queries": queries}, measure, compute)

    def _measured(self, name: str, setting: DefenseSetting, images: EvalSet,
                  settings: dict[str, Any], measure: Callable[[Target], dict[str, Any]],
                  compute: bool) -> dict[str, Any] | None:
        """A measurement of one defense on ``images`` without an attack, checkpointed under
        ``name``: read back when done, else (if ``compute``) ``measure`` on a fresh target."""
        fingerprint = {"kind": name, "defense": setting.label, "set": images.fingerprint,
                       **settings, "seed": self.plan.seed, "models": self._models_of(setting)}
        checkpoint = CellCheckpoint(
            self.checkpoint_dir / f"{name}__{slug(setting.label)}.json", fingerprint)
        if checkpoint.values:
            return checkpoint.values
        if not compute:
            return None
        self._check_time()
        target = self.factories[setting.label](derive_seed(self.plan.seed, name, setting.label))
        checkpoint.values.update(measure(target))
        checkpoint.save()
        return checkpoint.values

    def run(self, cells: Sequence[tuple[str, DefenseSetting]], n_images: int | None = None
            ) -> dict[tuple[str, str], list[ImageRecord]]:
        """Attack the first ``n_images`` images in every cell; records per (attack, label).

        Raises:
            TimeUp: the deadline passed; the checkpoints hold what was finished.
        """
        count = min(n_images or len(self.eval_set), len(self.eval_set))
        checkpoints = {(a, d.label): self.checkpoint(a, d) for a, d in cells}
        todo = sum(1 for key in checkpoints for i in range(count)
                   if i not in checkpoints[key].records)
        with tqdm(total=todo, desc="attacks", unit="image", mininterval=2) as bar:
            for start in range(0, count, self.plan.chunk):
                for attack_name, setting in cells:
                    checkpoint = checkpoints[(attack_name, setting.label)]
                    missing = [index for index in range(start, min(start + self.plan.chunk,
                                                                   count))
                               if index not in checkpoint.records]
                    if not missing:
                        continue
                    self._check_time()
                    bar.set_postfix_str(f"{attack_name} vs {setting.label}", refresh=False)
                    if isinstance(self.attacks[attack_name], BatchedAttack):
                        for record in self._attack_batch(attack_name, setting, missing):
                            checkpoint.records[record.image] = record
                        checkpoint.save()
                        bar.update(len(missing))
                        continue
                    for index in missing:
                        self._check_time()
                        checkpoint.add(self._attack_image(attack_name, setting, index))
                        bar.update()
        return {key: [cp.records[i] for i in range(count)] for key, cp in checkpoints.items()}

    def finished(self, attack_name: str, setting: DefenseSetting) -> list[ImageRecord]:
        """The records checkpointed so far for a cell, by image position."""
        records = self.checkpoint(attack_name, setting).records
        return [records[i] for i in sorted(records) if i < len(self.eval_set)]

    def checkpoint(self, attack_name: str, setting: DefenseSetting) -> CellCheckpoint:
        """The cell's checkpoint (loaded once; refuses one made with other settings)."""
        key = (attack_name, setting.label)
        if key not in self._checkpoints:
            self._checkpoints[key] = self._open_checkpoint(attack_name, setting)
        return self._checkpoints[key]

    def _open_checkpoint(self, attack_name: str, setting: DefenseSetting) -> CellCheckpoint:
        attack = self.attacks[attack_name]
        fingerprint = {"attack": attack.hyper_parameters(),
                       "threat": asdict(self.plan.threat(attack.norm)),
                       "budgets": list(self.plan.budgets), "defense": setting.label,
                       "set": self.eval_set.fingerprint, "fresh_queries": self.plan.fresh_queries,
                       "seed": self.plan.seed, "models": self._models_of(setting)}
        path = self.checkpoint_dir / f"{attack_name}__{slug(setting.label)}.json"
        return CellCheckpoint(path, fingerprint)

    def _attack_batch(self, attack_name: str, setting: DefenseSetting, indices: list[int]
                      ) -> list[ImageRecord]:
        """The images at ``indices`` attacked together; per-image seconds are the batch's
        wall time shared equally."""
        attack = self.attacks[attack_name]
        if not isinstance(attack, BatchedAttack):
            raise SpecError(f"attack {attack_name} is not batched")
        seed = derive_seed(self.plan.seed, attack_name, setting.label, "batch", indices[0])
        target = self.factories[setting.label](seed)
        images = self.eval_set.images[indices]
        labels = self.eval_set.labels[indices].astype(np.int64)
        started = time.perf_counter()
        top = max(self.plan.budgets)
        with tqdm(total=len(indices) * top, desc=f"{attack_name} vs {setting.label}",
                  unit="query", unit_scale=True, leave=False, mininterval=5) as bar:
            traces = attack.attack_batch(QueryProgress(target, bar), images, labels,
                                         threat=self.plan.threat(attack.norm),
                                         budgets=self.plan.budgets, seed=seed)
        offline = judge_offline_batch(target, traces, labels, self.plan.fresh_queries)
        seconds = (time.perf_counter() - started) / len(indices)
        return [ImageRecord(index, trace.queries_used, trace.first_wrong_query, verdicts,
                            float(trace.candidate_margins.get(top, np.nan)), seconds)
                for index, trace, verdicts in zip(indices, traces, offline, strict=True)]

    def _attack_image(self, attack_name: str, setting: DefenseSetting, index: int
                      ) -> ImageRecord:
        attack = self.attacks[attack_name]
        seed = derive_seed(self.plan.seed, attack_name, setting.label, index)
        target = self.factories[setting.label](seed)
        label = int(self.eval_set.labels[index])
        started = time.perf_counter()
        trace = attack(target, self.eval_set.images[index], label,
                       threat=self.plan.threat(attack.norm), budgets=self.plan.budgets, seed=seed)
        offline = judge_offline(target, trace, label, self.plan.fresh_queries)
        top = max(self.plan.budgets)
        return ImageRecord(index, trace.queries_used, trace.first_wrong_query, offline,
                           float(trace.candidate_margins.get(top, np.nan)),
                           time.perf_counter() - started)


class QueryProgress:
    """A target that counts the queries of a batched cell on a progress bar (a cell's image
    bar moves only when the whole batch ends, often half an hour later). The bar's total is
    every image's whole budget; images lost early never spend theirs."""

    def __init__(self, target: Target, bar: tqdm) -> None:
        self.target, self.bar = target, bar
        self.name, self.randomized = target.name, target.randomized
        self.num_classes = target.num_classes

    def predict(self, images: np.ndarray) -> np.ndarray:
        answers = self.target.predict(images)
        self.bar.update(len(images))
        return answers
