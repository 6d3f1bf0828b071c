"""Which bundle to serve: a bundle folder, a ``weights.pt``, or a shipped default by name.

A weights file (the shipped ``cifar10`` one when nothing is named) is exported once into the
cache, in a folder named by the file's sha256; the cached bundle is verified on every start,
file by file and against the weights it was exported from. The export runs ``matt-export`` in a
child process: the server itself never imports torch, training or export code.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from matt.assets import DEFAULT_BUNDLE, WEIGHTS_DIR, shipped_weights
from matt.errors import BundleError, ExportError, InputError
from matt.formats.bundle import load_bundle
from matt.formats.checksums import sha256_file
from matt.serve.cache import cache_root


def _export_command() -> list[str]:
    script = Path(sys.executable).with_name("matt-export")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from matt.export.cli import main; main()"]


def export_in_child(weights_path: Path, target: Path) -> None:
    """``matt-export weights -o target`` in a child process, into a staging folder first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        run = subprocess.run([*_export_command(), str(weights_path), "-o",
                              str(staging / "bundle")], stdout=sys.stderr, stderr=subprocess.PIPE,
                             text=True, check=False)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["no message"])[-1]
            raise ExportError(f"matt-export {weights_path} failed: {last.removeprefix('error: ')}")
        try:
            (staging / "bundle").rename(target)
        except OSError:
            if not target.exists():  # else another process exported it meanwhile
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def exported_bundle(weights_path: Path) -> Path:
    """The cached bundle exported from ``weights_path``; exported on first use."""
    digest = sha256_file(weights_path)
    target = cache_root() / "bundles" / f"{weights_path.stem}-{digest[:16]}"
    if not target.exists():
        export_in_child(weights_path, target)
    bundle = load_bundle(target)
    exported_from = bundle.manifest.export.get("weights_sha256")
    if exported_from != digest:
        raise BundleError(f"{target}: exported from other weights (sha256 {exported_from}); "
                          f"delete the folder and start again to re-export {weights_path}")
    return target


def resolve_bundle(name_or_path: str | None) -> Path:
    """A verified bundle folder for ``matt-serve [BUNDLE]``.

    ``None`` serves the shipped ``cifar10`` weights; a folder is taken as a bundle; a file as
    a ``weights.pt``; any other word as the name of shipped weights (``fmnist``, ...).
    """
    if name_or_path is None:
        return exported_bundle(shipped_weights(DEFAULT_BUNDLE))
    path = Path(name_or_path)
    if path.is_dir():
        load_bundle(path)
        return path
    if path.is_file():
        return exported_bundle(path)
    if (WEIGHTS_DIR / f"{name_or_path}.pt").is_file():
        return exported_bundle(shipped_weights(name_or_path))
    raise InputError(f"{name_or_path}: no such bundle folder, weights file or shipped weights; "
                     "make a bundle with matt-export or name shipped weights (e.g. cifar10)")
