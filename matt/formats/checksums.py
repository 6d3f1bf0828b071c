"""sha256 of files and the ``<file>.sha256`` sidecar: one implementation for every format."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks (engines and weights can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_path(path: str | Path) -> Path:
    """``weights.pt`` → ``weights.pt.sha256``."""
    return Path(f"{path}.sha256")


def write_sidecar(path: str | Path) -> Path:
    """Write ``<path>.sha256`` in ``sha256sum``'s format, so ``sha256sum -c`` checks it too."""
    path = Path(path)
    sidecar = sidecar_path(path)
    sidecar.write_text(f"{sha256_file(path)}  {path.name}\n")
    return sidecar


def read_sidecar(path: str | Path) -> str | None:
    """The checksum recorded beside ``path``, or ``None`` when there is no (or an empty) sidecar."""
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None
    text = sidecar.read_text().strip()
    return text.split()[0] if text else None
