"""Resumable results: one JSON file per attack × defense, rewritten atomically after each image.

A checkpoint carries the fingerprint of the settings that made it (attack hyper-parameters,
budgets, threat model, evaluation set, seed, models); a run with other settings refuses to mix
its results in and says so.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
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


DEFAULT_CHECKPOINTS = Path("runs/eval-checkpoints")


def recorded_checkpoints(results: dict[str, Any]) -> Path | None:
    """The checkpoint folder a ``results.json`` was written from: its ``checkpoints`` field,
    else read off its command line (records before the field), else ``None``."""
    if results.get("checkpoints"):
        return Path(str(results["checkpoints"]))
    try:
        words = shlex.split(str(results.get("command", "")))
    except ValueError:
        return None
    options = dict(itertools.pairwise(words))
    if "--checkpoints" in options:
        return Path(options["--checkpoints"])
    output = options.get("-o") or options.get("--output")
    return DEFAULT_CHECKPOINTS / Path(output).name if output else None


def check_record_folder(output: Path, checkpoints: Path, overwrite: bool = False) -> None:
    """Refuse to overwrite a record another run wrote. A folder holding ``results.json`` is
    rewritten only by a run resuming the same checkpoints (which only adds to it) or when
    ``overwrite`` is asked.

    Raises:
        InputError: the folder holds another run's record.
    """
    existing = output / "results.json"
    if overwrite or not existing.is_file():
        return
    try:
        recorded = recorded_checkpoints(json.loads(existing.read_text()))
    except (OSError, ValueError):
        recorded = None
    if recorded is not None and recorded.resolve() == checkpoints.resolve():
        return
    hint = f"resume it with --checkpoints {recorded}, " if recorded is not None else ""
    raise InputError(f"-o {output} holds another run's record (checkpoints "
                     f"{recorded or 'unknown'}); {hint}choose another -o, or pass --overwrite")
