"""Provenance recorded in every file matt writes: where the bits came from."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

Provenance = dict[str, str | int | float | bool | list[Any] | dict[str, Any]]
"""JSON-like facts about a model or file: data, attack, metrics, the git revision..."""


def git_revision() -> str:
    """The current git revision of the working tree, or ``unknown``."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
