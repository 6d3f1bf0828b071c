"""Where the server keeps what it prepares once: the Triton tree and the default bundle."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$MATT_CACHE_DIR``, else ``$XDG_CACHE_HOME/matt``, else ``~/.cache/matt``."""
    if os.environ.get("MATT_CACHE_DIR"):
        return Path(os.environ["MATT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "matt"
