"""Assembling ``weights.pt`` from a classifier file and trained pool members, and checking it.

The tiling defaults travel in the file: the patch size chosen at bundling time and a halo equal
to the largest receptive radius in the pool, so patch-wise purification by any member equals
that member's whole-image purification (no seams).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from matt.errors import InputError
from matt.formats.weights import PoolMember, Provenance, TilingDefaults, WeightsFile
from matt.training.artifacts import ClassifierFile, load_purifier
from matt.training.measures import accuracy


def collect_members(pool_dir: Path, names: Sequence[str] = ()) -> list[PoolMember]:
    """The finished members of a pool run (``members/<name>/purifier.pt``), all or by name."""
    folder = pool_dir / "members"
    found = {path.parent.name: path for path in sorted(folder.glob("*/purifier.pt"))}
    if not found:
        raise InputError(f"{pool_dir} has no finished purifiers (members/*/purifier.pt); "
                         "run matt-train pool first")
    missing = [name for name in names if name not in found]
    if missing:
        raise InputError(f"{pool_dir}: no finished members {missing}; finished: {sorted(found)}")
    return [load_purifier(found[name]) for name in (names or sorted(found))]


def assemble_weights(classifier: ClassifierFile, members: list[PoolMember], patch: int,
                     halo: int | None, provenance: Provenance) -> WeightsFile:
    """One :class:`WeightsFile`; ``halo=None`` takes the pool's largest receptive radius."""
    channels = classifier.input_shape[0]
    for member in members:
        if member.spec.channels != channels:
            raise InputError(f"purifier {member.name} takes {member.spec.channels} channels, the "
                             f"classifier {channels}; bundle members of the same dataset")
        trained_for = member.provenance.get("dataset")
        if trained_for not in (None, classifier.dataset):
            raise InputError(f"purifier {member.name} was trained for {trained_for}, the "
                             f"classifier for {classifier.dataset}")
    names = [member.name for member in members]
    if len(set(names)) != len(names):
        raise InputError(f"pool members must have distinct names, got {names}")
    radius = max(member.spec.receptive_radius for member in members)
    return WeightsFile(
        dataset=classifier.dataset, input_shape=classifier.input_shape,
        class_names=classifier.class_names,
        tiling=TilingDefaults(patch=patch, halo=radius if halo is None else halo),
        classifier_spec=classifier.spec, classifier_state=classifier.state_dict,
        pool=members, provenance={**provenance, "classifier": classifier.provenance},
    )


def defended_accuracy(weights: WeightsFile, images: torch.Tensor, labels: torch.Tensor,
                      seed: int | None, batch_size: int = 200) -> dict[str, float]:
    """Clean accuracy of the classifier alone and behind MATT with the bundle's tiling.

    MATT here is :class:`matt.defense.RandomPatchPurifier` with the file's patch and halo;
    ``seed`` fixes the purifier draws for a reproducible figure.
    """
    from matt.defense.patchwise import RandomPatchPurifier

    classifier = weights.build_classifier()
    defense = RandomPatchPurifier(weights.build_pool(), weights.tiling.patch,
                                  weights.tiling.halo, seed=seed)
    alone = accuracy(classifier, images, labels)
    with torch.no_grad():
        defended = torch.cat([
            classifier(defense(images[start:start + batch_size])).argmax(dim=1)
            for start in range(0, len(images), batch_size)
        ])
    return {"classifier": alone, "classifier+matt": float((defended == labels).float().mean()),
            "images": len(images)}
