"""Training the purifier pool: attack × encoder × feature depth (paper Table 9, Figure 4).

A run folder holds the cached adversarial sets (``pairs/``), one folder per member
(``members/<name>/``: checkpoint, loss log, and finally ``purifier.pt``) and ``pool.jsonl``, the
held-out metrics of every finished member and of the classifier alone. Finished members are
skipped when the command runs again, unfinished ones resume from their checkpoint.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from matt.errors import SpecError
from matt.models import PurifierSpec, build_purifier
from matt.training.adversarial import AttackSpec
from matt.training.artifacts import append_metrics, load_purifier, save_purifier
from matt.training.pairs import PairSet, make_pairs
from matt.training.purifier import (
    PurifierTraining,
    classifier_baseline,
    evaluate_purifier,
    train_purifier,
)
from matt.training.weights import PoolMember, Provenance

POOL_METRICS = "pool.jsonl"
# (encoder, feature depth) → (blocks, decoder widths): chosen for ≤ ~100 k MACs per pixel
# where the structure allows it (see docs/training.md for the measured trade-off).
DEPTH_PRESETS: dict[tuple[str, int], tuple[int, tuple[int, ...]]] = {
    ("edsr", 32): (2, (64,)),
    ("rcan", 32): (2, (64,)),
    ("edsr", 64): (0, (32,)),
    ("rcan", 64): (1, (16,)),
}


@dataclass(frozen=True)
class MemberPlan:
    """One purifier to train: the attack its pairs come from and its architecture."""

    attack: str
    spec: PurifierSpec

    @property
    def name(self) -> str:
        return f"{self.attack}-{self.spec.name}"


def member_grid(attacks: tuple[str, ...], encoders: tuple[str, ...], depths: tuple[int, ...],
                channels: int) -> list[MemberPlan]:
    """Every attack × encoder × depth combination, depth-major (the 32-deep members first)."""
    plans = []
    for depth in depths:
        for attack in attacks:
            for encoder in encoders:
                if (encoder, depth) not in DEPTH_PRESETS:
                    known = sorted({d for _, d in DEPTH_PRESETS})
                    raise SpecError(f"no preset for feature depth {depth}; known: {known}")
                blocks, decoder = DEPTH_PRESETS[(encoder, depth)]
                spec = PurifierSpec(encoder=encoder, features=depth, blocks=blocks,
                                    decoder_widths=decoder, channels=channels)
                plans.append(MemberPlan(attack, spec))
    return plans


def member_seed(name: str, seed: int) -> int:
    """A distinct, reproducible seed per member, so same-structure members differ too."""
    return seed * 7919 + zlib.crc32(name.encode()) % 100_000


@dataclass
class PoolSources:
    """Training pairs and named held-out sets (each with its adversarial versions)."""

    train: PairSet
    held_out: dict[str, PairSet]
    description: str


def build_sources(classifier: nn.Module, train_clean: torch.Tensor, train_labels: torch.Tensor,
                  held_out: dict[str, tuple[torch.Tensor, torch.Tensor]],
                  attacks: dict[str, AttackSpec], run_dir: Path, description: str,
                  seed: int = 0) -> PoolSources:
    """Attack every set once (cached under ``run_dir/pairs``)."""
    cache = run_dir / "pairs"
    train = make_pairs(classifier, train_clean, train_labels, attacks, cache / "train", seed)
    evaluated = {name: make_pairs(classifier, images, labels, attacks, cache / name, seed + 1)
                 for name, (images, labels) in held_out.items()}
    return PoolSources(train, evaluated, description)


def evaluate_on(purifier: nn.Module, classifier: nn.Module, sources: PoolSources
                ) -> dict[str, float]:
    """Held-out metrics, keyed ``<set>/<metric>``."""
    metrics: dict[str, float] = {}
    for set_name, pairs in sources.held_out.items():
        for key, value in evaluate_purifier(purifier, classifier, pairs.clean, pairs.labels,
                                            pairs.adversarial).items():
            metrics[f"{set_name}/{key}"] = round(value, 4)
    return metrics


def baseline_on(classifier: nn.Module, sources: PoolSources) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for set_name, pairs in sources.held_out.items():
        for key, value in classifier_baseline(classifier, pairs.clean, pairs.labels,
                                              pairs.adversarial).items():
            metrics[f"{set_name}/{key}"] = round(value, 4)
    return metrics


def train_pool(plans: list[MemberPlan], training: PurifierTraining, classifier: nn.Module,
               sources: PoolSources, attacks: dict[str, AttackSpec], run_dir: Path,
               provenance: Provenance) -> list[PoolMember]:
    """Train every planned member not yet finished; return all finished members in plan order.

    Each member's provenance holds its attack, recipe, data, held-out metrics and whatever
    ``provenance`` adds (the command line, the git revision).
    """
    log = run_dir / POOL_METRICS
    if not log.is_file():
        append_metrics(log, {"member": "classifier-alone", **baseline_on(classifier, sources)})
    members = []
    for plan in tqdm(plans, desc="pool", mininterval=1):
        folder = run_dir / "members" / plan.name
        if (folder / "purifier.pt").is_file():
            members.append(load_purifier(folder / "purifier.pt"))
            continue
        if plan.attack not in sources.train.adversarial:
            raise SpecError(f"member {plan.name}: no {plan.attack} pairs in this run")
        recipe = replace(training, seed=member_seed(plan.name, training.seed))
        state_dict = train_purifier(plan.spec, recipe, sources.train.adversarial[plan.attack],
                                    sources.train.clean, folder)
        purifier = build_purifier(plan.spec)
        purifier.load_state_dict(state_dict)
        metrics = evaluate_on(purifier, classifier, sources)
        append_metrics(log, {"member": plan.name, "macs_per_pixel": plan.spec.macs_per_pixel,
                             "receptive_radius": plan.spec.receptive_radius, **metrics})
        member = PoolMember(plan.name, plan.spec, state_dict, {
            **provenance, "attack": attacks[plan.attack].to_dict(),
            "training": recipe.to_dict(), "data": sources.description, "metrics": metrics,
        })
        save_purifier(member, folder / "purifier.pt")
        members.append(member)
    return members
