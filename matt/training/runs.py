"""A run folder remembers the configuration it was started with, so a resume cannot mix two.

``run.json`` is written when a run starts; starting again on the same folder with another
dataset, classifier, recipe or data size is refused with the differing keys named. Adding
members (more mixes or architectures) to a finished run is allowed: they are not part of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matt.core.files import atomic_path
from matt.errors import InputError

RUN_CONFIG = "run.json"


def check_run_config(run_dir: Path, config: dict[str, Any]) -> None:
    """Write ``run_dir/run.json`` the first time; afterwards refuse a different config."""
    path = run_dir / RUN_CONFIG
    normalised = json.loads(json.dumps(config, sort_keys=True))
    if path.is_file():
        stored = json.loads(path.read_text())
        differing = sorted(key for key in set(stored) | set(normalised)
                           if stored.get(key) != normalised.get(key))
        if differing:
            raise InputError(f"{run_dir} was started with another configuration "
                             f"(differs in {', '.join(differing)}); use a fresh --run-dir")
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        Path(temporary).write_text(json.dumps(normalised, indent=1, sort_keys=True) + "\n")
