"""Resumable results: one JSON file per attack × defense, rewritten atomically after each image.

A checkpoint carries the fingerprint of the settings that made it (attack hyper-parameters,
budgets, threat model, evaluation set, seed, models); a run with other settings refuses to mix
its results in and says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from matt.core.files import write_text_atomic
from matt.errors import InputError
from matt.evaluation.records import ImageRecord


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written)."""
    write_text_atomic(path, text)


def slug(text: str) -> str:
    """A file-name-safe form of a cell label (``matt[K=2]`` → ``matt_K_2_``)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text)


class CellCheckpoint:
    """The finished images of one cell (or one clean-accuracy pass), keyed by image position."""

    def __init__(self, path: Path, fingerprint: dict[str, Any]) -> None:
        self.path = path
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        self.records: dict[int, ImageRecord] = {}
        self.values: dict[str, Any] = {}
        if path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as error:
            raise InputError(f"checkpoint {self.path} is unreadable ({error}); delete it to "
                             "start that cell again") from None
        if data.get("fingerprint") != self.fingerprint:
            raise InputError(f"checkpoint {self.path} was made with other settings; use another "
                             "output folder, the same settings, or delete the checkpoint folder")
        self.records = {int(k): ImageRecord.from_dict(v) for k, v in data["images"].items()}
        self.values = dict(data.get("values", {}))

    def add(self, record: ImageRecord) -> None:
        self.records[record.image] = record
        self.save()

    def save(self) -> None:
        payload = {"fingerprint": self.fingerprint, "values": self.values,
                   "images": {str(k): r.to_dict() for k, r in sorted(self.records.items())}}
        write_atomic(self.path, json.dumps(payload, indent=1))
