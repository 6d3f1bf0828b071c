"""The ``weights.pt`` format: one file with the purifier pool, the classifier and provenance.

Layout (a plain dict of tensors, strings and numbers, so ``torch.load(weights_only=True)``
reads it; documented in ``docs/weights-format.md``)::

    {"format": "matt-weights", "version": 1,
     "dataset": "cifar10", "input_shape": [3, 32, 32], "class_names": [...],
     "tiling": {"patch": 8, "halo": 7},
     "classifier": {"spec": {...}, "state_dict": {...}},
     "pool": [{"name": "p0", "spec": {...}, "state_dict": {...}, "provenance": {...}}, ...],
     "provenance": {"data": ..., "git_revision": ..., ...}}

Saving writes ``weights.pt.sha256`` beside it; loading checks it when present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from matt.core.files import atomic_path
from matt.errors import MattError, SpecError, WeightsError
from matt.formats.checksums import read_sidecar, sha256_file, sidecar_path, write_sidecar
from matt.formats.provenance import Provenance, git_revision
from matt.models.specs import ClassifierSpec, PurifierSpec

FORMAT = "matt-weights"
VERSION = 1
__all__ = ["FORMAT", "VERSION", "PoolMember", "Provenance", "TilingDefaults", "WeightsFile",
           "git_revision", "load_weights", "save_weights", "sha256_of"]


@dataclass(frozen=True)
class TilingDefaults:
    """The patch size and halo a bundle is served with unless overridden, in pixels."""

    patch: int
    halo: int

    def __post_init__(self) -> None:
        if self.patch < 1 or self.halo < 0:
            raise SpecError(f"tiling: patch must be >= 1 and halo >= 0, got {self}")


@dataclass
class PoolMember:
    name: str
    spec: PurifierSpec
    state_dict: dict[str, torch.Tensor]
    provenance: Provenance = field(default_factory=dict)

    def build(self) -> nn.Module:
        from matt.models import build_purifier

        purifier = build_purifier(self.spec)
        purifier.load_state_dict(self.state_dict)
        return purifier.eval()


@dataclass
class WeightsFile:
    """Everything needed to rebuild the defended classifier."""

    dataset: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    tiling: TilingDefaults
    classifier_spec: ClassifierSpec
    classifier_state: dict[str, torch.Tensor]
    pool: list[PoolMember]
    provenance: Provenance = field(default_factory=dict)

    def build_classifier(self) -> nn.Module:
        from matt.models import build_classifier

        classifier = build_classifier(self.classifier_spec)
        classifier.load_state_dict(self.classifier_state)
        return classifier.eval()

    def build_pool(self) -> list[nn.Module]:
        return [member.build() for member in self.pool]

    @property
    def receptive_radius(self) -> int:
        """The pool's largest receptive radius: the smallest halo that changes nothing."""
        return max(member.spec.receptive_radius for member in self.pool)

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "dataset": self.dataset,
            "input_shape": list(self.input_shape), "class_names": list(self.class_names),
            "tiling": {"patch": self.tiling.patch, "halo": self.tiling.halo},
            "classifier": {"spec": self.classifier_spec.to_dict(),
                           "state_dict": self.classifier_state},
            "pool": [{"name": m.name, "spec": m.spec.to_dict(), "state_dict": m.state_dict,
                      "provenance": m.provenance} for m in self.pool],
            "provenance": self.provenance,
        }


def sha256_of(path: Path) -> str:
    """The file's sha256 (one implementation, shared with the bundle format)."""
    return sha256_file(Path(path))


def save_weights(weights: WeightsFile, path: str | Path) -> Path:
    """Write atomically (temporary file, then rename) with a ``.sha256`` sidecar."""
    path = Path(path)
    with atomic_path(path) as temporary:
        torch.save(weights.to_payload(), temporary)
    write_sidecar(path)
    return path


def load_weights(path: str | Path, expected_sha256: str | None = None) -> WeightsFile:
    """Read a ``weights.pt`` safely (``weights_only=True``), verifying its checksum.

    Raises:
        WeightsError: missing, unreadable, truncated, tampered or foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    sidecar = sidecar_path(path)
    if expected_sha256 is None:
        expected_sha256 = read_sidecar(path)
    if expected_sha256 is not None and sha256_of(path) != expected_sha256:
        raise WeightsError(f"{path}: sha256 does not match {sidecar.name or 'the expected value'}"
                           "; the file was changed or truncated")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file
        raise WeightsError(f"{path}: not a readable weights file ({unreadable_reason(path, exc)})"
                           "; make one with matt-train") from None
    return _parse(payload, path)


def unreadable_reason(path: Path, error: Exception) -> str:
    """Why ``torch.load`` refused ``path``, in the user's terms (torch's own text is a key or
    an opcode, e.g. ``101``, that says nothing to them)."""
    import pickle

    with open(path, "rb") as handle:
        head = handle.read(2)
    if head != b"PK" and head[:1] != b"\x80":
        return "not a torch file"
    if isinstance(error, pickle.UnpicklingError):
        return "it holds Python objects, not only tensors and plain values"
    return "a torch file that is damaged or truncated"


def _parse(payload: object, path: Path) -> WeightsFile:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path}: not a matt weights file (no '{FORMAT}' marker); "
                           "make one with matt-train")
    if payload.get("version") != VERSION:
        raise WeightsError(f"{path}: weights format version {payload.get('version')!r}, "
                           f"this matt reads version {VERSION}")
    try:
        pool = [PoolMember(str(m["name"]), PurifierSpec.from_dict(m["spec"]), m["state_dict"],
                           dict(m.get("provenance", {}))) for m in payload["pool"]]
        if not pool:
            raise WeightsError(f"{path}: the purifier pool is empty")
        shape = tuple(int(v) for v in payload["input_shape"])
        if len(shape) != 3:
            raise WeightsError(f"input_shape must be [C, H, W], got {shape}")
        weights = WeightsFile(
            dataset=str(payload["dataset"]),
            input_shape=(shape[0], shape[1], shape[2]),
            class_names=tuple(str(v) for v in payload["class_names"]),
            tiling=TilingDefaults(**payload["tiling"]),
            classifier_spec=ClassifierSpec.from_dict(payload["classifier"]["spec"]),
            classifier_state=payload["classifier"]["state_dict"],
            pool=pool,
            provenance=dict(payload.get("provenance", {})),
        )
    except MattError as exc:
        raise WeightsError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise WeightsError(f"{path}: malformed weights file ({reason})") from None
    return weights
