"""The files training writes between steps: checkpoints, a trained classifier, a trained purifier.

Every file is a plain dict of tensors, strings and numbers, written atomically (temporary file,
then rename, so a killed run never leaves half a file) and read with ``weights_only=True``.
``matt-train bundle`` assembles the classifier and purifier files into one ``weights.pt``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from matt.core.files import atomic_path
from matt.errors import MattError, WeightsError
from matt.formats.weights import PoolMember, Provenance, unreadable_reason
from matt.models import ClassifierSpec, PurifierSpec

CLASSIFIER_FORMAT = "matt-classifier"
PURIFIER_FORMAT = "matt-purifier"
VERSION = 1


def atomic_save(payload: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)
    return Path(path)


def read_payload(path: str | Path, expected_format: str | None = None) -> dict[str, Any]:
    """Read a training file safely: a missing, corrupt or foreign file is a WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file
        raise WeightsError(f"{path}: not a readable training file "
                           f"({unreadable_reason(path, exc)})") from None
    if not isinstance(payload, dict):
        raise WeightsError(f"{path}: expected a mapping, found {type(payload).__name__}")
    if expected_format is not None and payload.get("format") != expected_format:
        raise WeightsError(f"{path}: not a {expected_format} file (format "
                           f"{payload.get('format')!r}); make one with matt-train")
    return payload


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    """One JSON object per line: the metrics log a run appends to after each epoch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as log:
        log.write(json.dumps(record, sort_keys=True) + "\n")


@dataclass
class ClassifierFile:
    """A trained target classifier with what a bundle needs to know about it."""

    dataset: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    spec: ClassifierSpec
    state_dict: dict[str, torch.Tensor]
    provenance: Provenance = field(default_factory=dict)

    def build(self) -> torch.nn.Module:
        from matt.models import build_classifier

        classifier = build_classifier(self.spec)
        classifier.load_state_dict(self.state_dict)
        return classifier.eval()

    def save(self, path: str | Path) -> Path:
        return atomic_save({
            "format": CLASSIFIER_FORMAT, "version": VERSION, "dataset": self.dataset,
            "input_shape": list(self.input_shape), "class_names": list(self.class_names),
            "spec": self.spec.to_dict(), "state_dict": self.state_dict,
            "provenance": self.provenance,
        }, path)

    @classmethod
    def load(cls, path: str | Path) -> ClassifierFile:
        payload = read_payload(path, CLASSIFIER_FORMAT)
        try:
            return cls(
                dataset=str(payload["dataset"]),
                input_shape=tuple(int(v) for v in payload["input_shape"]),  # type: ignore[arg-type]
                class_names=tuple(str(v) for v in payload["class_names"]),
                spec=ClassifierSpec.from_dict(payload["spec"]),
                state_dict=payload["state_dict"],
                provenance=dict(payload.get("provenance", {})),
            )
        except MattError as exc:
            raise WeightsError(f"{path}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"{path}: malformed classifier file ({exc!r})") from None


def save_purifier(member: PoolMember, path: str | Path) -> Path:
    """Write one trained pool member (spec, state dict, provenance incl. metrics)."""
    return atomic_save({
        "format": PURIFIER_FORMAT, "version": VERSION, "name": member.name,
        "spec": member.spec.to_dict(), "state_dict": member.state_dict,
        "provenance": member.provenance,
    }, path)


def load_purifier(path: str | Path) -> PoolMember:
    payload = read_payload(path, PURIFIER_FORMAT)
    try:
        return PoolMember(str(payload["name"]), PurifierSpec.from_dict(payload["spec"]),
                          payload["state_dict"], dict(payload.get("provenance", {})))
    except MattError as exc:
        raise WeightsError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: malformed purifier file ({exc!r})") from None
