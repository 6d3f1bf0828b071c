"""``matt-export`` end to end: the bundle it writes, the figures it prints and stores."""

import json

import numpy as np

from matt.bundle import MANIFEST, load_bundle
from matt.calibration.quality import ort_runner, psnr_db
from matt.export.options import PARITY_TOLERANCE


def test_export_succeeds_and_prints_a_summary(int8_export):
    _, bundle_dir, run = int8_export
    assert run.exit_code == 0, run.stderr
    lines = run.stdout.splitlines()
    for name in ("p0", "p1", "classifier"):
        assert any(line.startswith(name) for line in lines), run.stdout
    assert "parity: ONNX Runtime vs torch" in run.stdout
    assert "MACs/px" in run.stdout
    assert not [p for p in bundle_dir.parent.iterdir() if p.name.startswith(".")]


def test_parity_is_measured_on_real_images_and_stored(int8_export):
    _, bundle_dir, _ = int8_export
    parity = load_bundle(bundle_dir).manifest.parity
    assert parity["real"] is True
    assert "foolbox CIFAR-10" in parity["source"]
    assert parity["images"] == 32 and parity["labelled"] == 20
    assert parity["tolerance"] == PARITY_TOLERANCE
    assert set(parity["models"]) == {"p0", "p1", "classifier"}
    for entry in parity["models"].values():
        assert 0 <= entry["max_abs_diff"] <= PARITY_TOLERANCE
    window = 8 + 2 * load_bundle(bundle_dir).manifest.halo
    assert [256, 3, window, window] in parity["models"]["p0"]["shapes"]


def test_int8_variants_are_listed_with_checksums_and_quality(int8_export):
    _, bundle_dir, _ = int8_export
    bundle = load_bundle(bundle_dir)
    assert bundle.variants() == {"int8", "int8-symmetric"}
    for model in (*bundle.manifest.purifiers, bundle.manifest.classifier):
        for kind in ("int8", "int8-symmetric"):
            variant = model.variants[kind]
            assert (bundle_dir / variant["file"]).is_file()
            assert variant["quantization"]["format"] == "QDQ"
            assert variant["quality"]["agreement"] >= 0.9
    for model in bundle.manifest.purifiers:
        for kind in ("int8", "int8-symmetric"):
            quality = model.variants[kind]["quality"]
            assert quality["psnr_int8_vs_fp32_db"] > 30
            assert abs(quality["psnr_change_db"]) < 1.0
            assert quality["labelled"] == 20 and quality["accuracy_change"] is not None
    calibration = bundle.manifest.export["calibration"]
    assert calibration["real"] is True and calibration["images"] == 64
    assert calibration["source"] != bundle.manifest.parity["source"]


def test_int8_graphs_run_in_onnxruntime_close_to_fp32(int8_export):
    _, bundle_dir, _ = int8_export
    bundle = load_bundle(bundle_dir)
    images = np.random.default_rng(0).random((4, 3, 32, 32), dtype=np.float32)
    for index in range(len(bundle.manifest.purifiers)):
        fp32 = ort_runner(bundle.purifier_path(index))(images)
        for kind in ("int8", "int8-symmetric"):
            int8 = ort_runner(bundle.purifier_path(index, kind))(images)
            assert int8.shape == fp32.shape and int8.dtype == np.float32
            assert psnr_db(fp32, int8) > 30
            assert int8.min() >= 0 and int8.max() <= 1
    probabilities = ort_runner(bundle.classifier_path("int8"))(images)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_manifest_records_the_export(int8_export):
    weights_path, bundle_dir, _ = int8_export
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    assert manifest["export"]["precision"] == "int8"
    assert manifest["export"]["engine"] == "none"
    assert manifest["export"]["weights_file"] == weights_path.name
    assert manifest["input"] == {"layout": "NCHW", "dtype": "float32", "range": [0.0, 1.0],
                                 "shape": [3, 32, 32]}


def test_int8_variant_that_changes_predictions_is_dropped(int8_export, tmp_path, monkeypatch):
    """A classifier whose INT8 predictions disagree with FP32 keeps only its FP32 graph."""
    import shutil
    from dataclasses import replace

    from matt.calibration import CPU_INT8, int8, quantize_bundle
    from matt.calibration.datasets import evaluation_images, random_images

    _, bundle_dir, _ = int8_export
    copy = tmp_path / "bundle"
    shutil.copytree(bundle_dir, copy)
    manifest = load_bundle(copy).manifest
    manifest = replace(manifest, classifier=replace(manifest.classifier, variants={}))
    (copy / "classifier.int8.onnx").unlink()
    real_quality = int8.classifier_quality
    monkeypatch.setattr(int8, "classifier_quality",
                        lambda *args: {**real_quality(*args), "agreement": 0.5})
    manifest = quantize_bundle(copy, manifest, random_images((3, 32, 32), 8, 0, "test"),
                               evaluation_images("cifar10", (3, 32, 32), 8),
                               schemes=(CPU_INT8,))
    assert "int8" not in manifest.classifier.variants
    assert not (copy / "classifier.int8.onnx").exists()
    assert "classifier/int8" in manifest.export["calibration"]["rejected"]
    assert all("int8" in model.variants for model in manifest.purifiers)
