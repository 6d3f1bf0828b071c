"""Which bundle ``matt-serve`` serves: folders, cached exports of weights, verification."""

import json
import shutil

import pytest

from matt.bundle import sha256_file
from matt.errors import BundleError, InputError
from matt.serve.bundles import exported_bundle, resolve_bundle


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MATT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def cached_copy(serve_bundle, cache, weights, exported_from: str):
    """Place a copy of the bundle where the cache keeps the export of ``weights``."""
    target = cache / "bundles" / f"{weights.stem}-{sha256_file(weights)[:16]}"
    shutil.copytree(serve_bundle, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["export"]["weights_sha256"] = exported_from
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_a_bundle_folder_is_served_as_it_is(serve_bundle):
    assert resolve_bundle(str(serve_bundle)) == serve_bundle


def test_a_cached_export_is_reused(serve_bundle, cache, tmp_path):
    weights = tmp_path / "mine.pt"
    weights.write_bytes(b"stands for a weights file")
    target = cached_copy(serve_bundle, cache, weights, sha256_file(weights))
    assert resolve_bundle(str(weights)) == target


def test_a_cached_export_of_other_weights_is_refused(serve_bundle, cache, tmp_path):
    weights = tmp_path / "mine.pt"
    weights.write_bytes(b"stands for a weights file")
    cached_copy(serve_bundle, cache, weights, "0" * 64)
    with pytest.raises(BundleError, match="exported from other weights"):
        exported_bundle(weights)


def test_a_changed_file_is_refused_on_start(serve_bundle, tmp_path):
    copy = shutil.copytree(serve_bundle, tmp_path / "bundle")
    with open(copy / "classifier.onnx", "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 1]))
    with pytest.raises(BundleError, match=r"classifier\.onnx: sha256 does not match"):
        resolve_bundle(str(copy))


def test_unknown_names_are_refused(cache):
    with pytest.raises(InputError, match="no such bundle folder, weights file or shipped"):
        resolve_bundle("cifar99")
