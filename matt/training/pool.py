"""Training the purifier pool: mix of perturbation families × architecture (paper Table 9).

The paper trains one member per white-box attack × encoder × depth; here a member's pairs
come from a *mix* (:mod:`matt.training.mixes`), which can be one white-box attack alone (the
paper's pool) or white-box pairs beside the points query attacks send.

A run folder holds the cached white-box sets (``pairs/``), one folder per member
(``members/<name>/``: checkpoint, loss log, and finally ``purifier.pt``) and ``pool.jsonl``, the
held-out metrics of every finished member and of the classifier alone. Finished members are
skipped when the command runs again, unfinished ones resume from their checkpoint. Several
``matt-train pool`` processes may share one run folder (one per core): a member being trained
is claimed (``members/<name>/claim``, holding the trainer's pid) and the others pass it by; a
claim whose process has died is taken over.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from matt.core.processes import pid_alive
from matt.errors import InputError, SpecError
from matt.formats.weights import PoolMember, Provenance
from matt.models import PurifierSpec, build_purifier
from matt.training.artifacts import append_metrics, load_purifier, save_purifier
from matt.training.mixes import Mix
from matt.training.pairs import PairSet, make_pairs
from matt.training.perturbations import FamilyContext, family
from matt.training.purifier import (
    PurifierTraining,
    classifier_baseline,
    evaluate_purifier,
    train_purifier,
)
from matt.training.sampler import PairSampler

POOL_METRICS = "pool.jsonl"
# (encoder, feature depth) → (blocks, decoder widths): chosen for ≤ ~100 k MACs per pixel
# where the structure allows it (see docs/training.md for the measured trade-off).
DEPTH_PRESETS: dict[tuple[str, int], tuple[int, tuple[int, ...]]] = {
    ("edsr", 32): (2, (64,)),
    ("rcan", 32): (2, (64,)),
    ("edsr", 64): (0, (32,)),
    ("rcan", 64): (1, (16,)),
}


ARCH_NAMES = {f"{encoder}{depth}": (encoder, depth) for encoder, depth in DEPTH_PRESETS}


@dataclass(frozen=True)
class MemberPlan:
    """One purifier to train: the mix its pairs come from and its architecture."""

    mix: Mix
    spec: PurifierSpec

    @property
    def name(self) -> str:
        return f"{self.mix.name}-{self.spec.name}"


def preset_spec(encoder: str, depth: int, channels: int) -> PurifierSpec:
    if (encoder, depth) not in DEPTH_PRESETS:
        raise SpecError(f"no preset for {encoder} at feature depth {depth}; known: "
                        f"{sorted(ARCH_NAMES)}")
    blocks, decoder = DEPTH_PRESETS[(encoder, depth)]
    return PurifierSpec(encoder=encoder, features=depth, blocks=blocks, decoder_widths=decoder,
                        channels=channels)


def member_grid(mixes: tuple[Mix, ...], archs: tuple[tuple[str, int], ...], channels: int
                ) -> list[MemberPlan]:
    """Every mix × architecture, architecture-major (each architecture's mixes together)."""
    return [MemberPlan(mix, preset_spec(encoder, depth, channels))
            for encoder, depth in archs for mix in mixes]


def parse_archs(names: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """``edsr32,rcan64`` → ((edsr, 32), (rcan, 64)); unknown names are refused."""
    unknown = [name for name in names if name not in ARCH_NAMES]
    if unknown or not names:
        raise SpecError(f"unknown architectures {unknown}; known: {sorted(ARCH_NAMES)}")
    return tuple(ARCH_NAMES[name] for name in names)


def member_seed(name: str, seed: int) -> int:
    """A distinct, reproducible seed per member, so same-structure members differ too."""
    return seed * 7919 + zlib.crc32(name.encode()) % 100_000


@dataclass
class PoolSources:
    """Training images with cached white-box sets, and named held-out sets with a perturbed
    version per family (the first set's also decide each member's plateau)."""

    train_clean: torch.Tensor
    train_labels: torch.Tensor
    train_cached: dict[str, torch.Tensor]
    held_out: dict[str, PairSet]
    context: FamilyContext
    description: str

    def sampler(self, mix: Mix) -> PairSampler:
        return PairSampler(self.train_clean, self.train_labels, self.train_cached, mix,
                           self.context)

    def held_out_pairs(self, mix: Mix, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first held-out set, each image perturbed by a family drawn by the mix's shares."""
        pairs = next(iter(self.held_out.values()))
        shares = torch.tensor([share for _, share in mix.shares])
        picks = torch.multinomial(shares, len(pairs.clean), replacement=True,
                                  generator=torch.Generator().manual_seed(seed))
        perturbed = pairs.clean.clone()
        for position, name in enumerate(mix.families):
            rows = picks == position
            perturbed[rows] = pairs.adversarial[name][rows]
        return perturbed, pairs.clean


def build_sources(classifier: nn.Module, train_clean: torch.Tensor, train_labels: torch.Tensor,
                  held_out: dict[str, tuple[torch.Tensor, torch.Tensor]],
                  families: tuple[str, ...], context: FamilyContext, run_dir: Path,
                  description: str, whitebox_count: int | None = None, seed: int = 0
                  ) -> PoolSources:
    """Attack the first ``whitebox_count`` training images once per white-box family (cached
    under ``run_dir/pairs``); perturb every held-out set once per family (white-box ones
    cached, random ones from a fixed seed)."""
    cache = run_dir / "pairs"
    cached = tuple(name for name in families if family(name).cached)
    count = len(train_clean) if whitebox_count is None else min(whitebox_count,
                                                                 len(train_clean))
    context = replace(context, classifier=classifier)
    subset = make_pairs(context, train_clean[:count], train_labels[:count], cached,
                        cache / "train", seed)
    evaluated = {}
    for offset, (name, (images, labels)) in enumerate(held_out.items()):
        pairs = make_pairs(context, images, labels, cached, cache / name, seed + 1)
        generator = torch.Generator().manual_seed(seed + 101 + offset)
        for random_name in families:
            if not family(random_name).cached:
                pairs.adversarial[random_name] = family(random_name).perturb(
                    images, labels, context, generator)
        evaluated[name] = pairs
    return PoolSources(train_clean, train_labels, subset.adversarial, evaluated, context,
                       description)


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
               sources: PoolSources, run_dir: Path, provenance: Provenance,
               starts: Mapping[str, MemberStart] | None = None) -> list[PoolMember]:
    """Train every planned member not yet finished; return all finished members in plan order.

    Each member's provenance holds its mix, recipe, data, held-out metrics and whatever
    ``provenance`` adds (the command line, the git revision). ``starts``: the member each
    plan starts from (:func:`initial_members`, fine-tuning) instead of a random init.
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
        if not claim_member(folder):
            continue  # another process trains it
        recipe = replace(training, seed=member_seed(plan.name, training.seed))
        started = time.process_time()
        start = (starts or {}).get(plan.name)
        state_dict = train_purifier(plan.spec, recipe, sources.sampler(plan.mix), folder,
                                    sources.held_out_pairs(plan.mix, recipe.seed), classifier,
                                    start.member.state_dict if start else None)
        purifier = build_purifier(plan.spec)
        purifier.load_state_dict(state_dict)
        metrics = evaluate_on(purifier, classifier, sources)
        steps = _steps_done(folder)
        append_metrics(log, {"member": plan.name, "macs_per_pixel": plan.spec.macs_per_pixel,
                             "receptive_radius": plan.spec.receptive_radius, "steps": steps,
                             "cpu_seconds": round(time.process_time() - started, 1),
                             **metrics})
        member = PoolMember(plan.name, plan.spec, state_dict, {
            **provenance, "mix": plan.mix.to_dict(), "attack": {"name": plan.mix.name},
            "training": recipe.to_dict(), "steps_done": steps, "data": sources.description,
            "metrics": metrics,
            **({"initialised_from": {"member": str(start.folder),
                                     "steps_done": start.member.provenance.get("steps_done"),
                                     "training": start.member.provenance.get("training")}}
               if start else {}),
        })
        save_purifier(member, folder / "purifier.pt")
        (folder / CLAIM).unlink(missing_ok=True)
        members.append(member)
    return members


@dataclass(frozen=True)
class MemberStart:
    """A finished member another run made, and its folder there, that a plan starts from."""

    folder: Path
    member: PoolMember


def initial_members(init_dir: Path, plans: list[MemberPlan]) -> dict[str, MemberStart]:
    """Each plan's same-named finished member of ``init_dir``; refused unless every one exists
    with the planned architecture (weights of another shape cannot be fine-tuned)."""
    starts = {}
    for plan in plans:
        folder = init_dir / "members" / plan.name
        if not (folder / "purifier.pt").is_file():
            raise InputError(f"--init-dir {init_dir}: no finished member {plan.name} "
                             f"({folder / 'purifier.pt'} is missing); train it there first, "
                             "or leave it out of --mixes/--archs")
        member = load_purifier(folder / "purifier.pt")
        if member.spec != plan.spec:
            raise InputError(f"--init-dir {init_dir}: member {plan.name} is a "
                             f"{member.spec.name}, not the planned {plan.spec.name}")
        starts[plan.name] = MemberStart(folder, member)
    return starts


CLAIM = "claim"


def claim_member(folder: Path) -> bool:
    """Whether this process may train the member in ``folder``: no live process holds its
    claim. The claim is linked into place whole (atomic), so two processes never both win."""
    folder.mkdir(parents=True, exist_ok=True)
    claim, mine = folder / CLAIM, folder / f"{CLAIM}.{os.getpid()}"
    mine.write_text(str(os.getpid()))
    try:
        for _ in range(2):
            try:
                os.link(mine, claim)
                return True
            except FileExistsError:
                holder = _holder(claim)
                if holder == os.getpid():
                    return True
                if holder is not None and pid_alive(holder):
                    return False
                claim.unlink(missing_ok=True)  # its process died: take it over
        return False
    finally:
        mine.unlink(missing_ok=True)


def _holder(claim: Path) -> int | None:
    try:
        return int(claim.read_text())
    except (OSError, ValueError):
        return None


def _steps_done(folder: Path) -> int:
    from matt.training.artifacts import read_payload
    from matt.training.purifier import CHECKPOINT

    return int(read_payload(folder / CHECKPOINT).get("step", 0))
