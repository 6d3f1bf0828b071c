"""Export → load → parity, on a random pool (and on the shipped weights: test_shipped_bundles)."""

import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch

from matt.bundle import load_bundle
from matt.errors import BundleError, ExportError
from matt.export import export_bundle
from matt.training.weights import load_weights


def test_onnx_matches_torch_at_other_shapes(int8_export):
    weights_path, bundle_dir, _ = int8_export
    bundle = load_bundle(bundle_dir)
    weights = load_weights(weights_path)
    torch.manual_seed(0)
    for index, purifier in enumerate(weights.build_pool()):
        session = ort.InferenceSession(str(bundle.purifier_path(index)))
        for shape in [(1, 3, 32, 32), (5, 3, 15, 22), (2, 3, 1, 7)]:
            batch = torch.rand(shape)
            got = session.run(None, {"images": batch.numpy()})[0]
            with torch.no_grad():
                np.testing.assert_allclose(got, purifier(batch).numpy(), atol=1e-4)
    images = torch.rand(3, 3, 32, 32)
    session = ort.InferenceSession(str(bundle.classifier_path()))
    probabilities = session.run(None, {"images": images.numpy()})[0]
    with torch.no_grad():
        expected = torch.softmax(weights.build_classifier()(images), -1).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert bundle.manifest.halo == weights.tiling.halo
    assert bundle.manifest.purifiers[0].receptive_radius == weights.pool[0].spec.receptive_radius


@pytest.mark.parametrize("relative", ["purifiers/p1.onnx", "purifiers/p0.int8.onnx",
                                      "classifier.int8.onnx"])
def test_tampered_file_is_named(int8_export, tmp_path, relative):
    _, bundle_dir, _ = int8_export
    copy = tmp_path / "copy"
    shutil.copytree(bundle_dir, copy)
    target = copy / relative
    target.write_bytes(target.read_bytes()[:-10])
    with pytest.raises(BundleError, match=relative.replace(".", r"\.")):
        load_bundle(copy)


def test_existing_output_is_not_overwritten(int8_export):
    weights_path, bundle_dir, _ = int8_export
    before = sorted(p.name for p in bundle_dir.rglob("*"))
    with pytest.raises(ExportError, match="--force"):
        export_bundle(weights_path, bundle_dir)
    assert sorted(p.name for p in bundle_dir.rglob("*")) == before


def test_other_schema_version_is_refused(int8_export, tmp_path):
    import json

    _, bundle_dir, _ = int8_export
    copy = tmp_path / "copy"
    shutil.copytree(bundle_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="schema version 99"):
        load_bundle(copy)


def test_missing_file_is_named(int8_export, tmp_path):
    _, bundle_dir, _ = int8_export
    copy = tmp_path / "copy"
    shutil.copytree(bundle_dir, copy)
    (copy / "purifiers" / "p0.int8-symmetric.onnx").unlink()
    with pytest.raises(BundleError, match=r"p0\.int8-symmetric\.onnx.*missing"):
        load_bundle(copy)


def test_force_replaces_a_bundle_with_a_complete_one(int8_export, tmp_path):
    weights_path, bundle_dir, _ = int8_export
    copy = tmp_path / "bundle"
    shutil.copytree(bundle_dir, copy)
    (copy / "stale.txt").write_text("from the previous export")
    from matt.export.options import ExportOptions

    export_bundle(weights_path, copy, force=True,
                  options=ExportOptions(members=("p1",), check_images=4))
    bundle = load_bundle(copy)
    assert [m.name for m in bundle.manifest.purifiers] == ["p1"]
    assert not (copy / "stale.txt").exists() and not (copy / "purifiers" / "p0.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
