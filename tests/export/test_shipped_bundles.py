"""Round trip on the shipped weights: export → load → parity on the dataset's real images."""

import numpy as np
import pytest
import torch

from matt.assets import WEIGHTS_DIR
from matt.bundle import load_bundle
from matt.calibration import evaluation_images
from matt.calibration.quality import ort_runner
from matt.export import export_bundle
from matt.export.options import PARITY_TOLERANCE, ExportOptions
from matt.training.weights import load_weights

SHIPPED = ["cifar10", "fmnist"]


def _shipped(name):
    path = WEIGHTS_DIR / f"{name}.pt"
    if not path.is_file():
        pytest.skip(f"shipped weights {path.name} are not trained yet (the training issue)")
    return path


@pytest.fixture(scope="module", params=SHIPPED)
def shipped_export(request, tmp_path_factory):
    """The first pool member of a shipped bundle, FP32 and INT8 (a full pool: the slow test)."""
    path = _shipped(request.param)
    weights = load_weights(path)
    members = tuple(member.name for member in weights.pool[:1])
    options = ExportOptions(members=members, precision="int8", check_images=32,
                            calibration_images=64)
    out_dir = tmp_path_factory.mktemp(f"shipped-{request.param}") / "bundle"
    return weights, export_bundle(path, out_dir, options=options)


def test_round_trip_parity_on_real_images(shipped_export):
    weights, bundle_dir = shipped_export
    bundle = load_bundle(bundle_dir)
    assert bundle.manifest.dataset == weights.dataset
    assert bundle.manifest.parity["real"] is True
    images = evaluation_images(weights.dataset, weights.input_shape, 16).images
    modules = {member.name: member.build() for member in weights.pool}
    for index, model in enumerate(bundle.manifest.purifiers):
        got = ort_runner(bundle.purifier_path(index))(images)
        with torch.no_grad():
            expected = modules[model.name](torch.from_numpy(images)).numpy()
        assert np.abs(got - expected).max() <= PARITY_TOLERANCE
    probabilities = ort_runner(bundle.classifier_path())(images)
    with torch.no_grad():
        expected = torch.softmax(weights.build_classifier()(torch.from_numpy(images)), -1)
    assert np.abs(probabilities - expected.numpy()).max() <= PARITY_TOLERANCE


def test_int8_quality_of_shipped_purifiers(shipped_export):
    _, bundle_dir = shipped_export
    for model in load_bundle(bundle_dir).manifest.purifiers:
        quality = model.variants["int8"]["quality"]
        assert quality["psnr_int8_vs_fp32_db"] is None or quality["psnr_int8_vs_fp32_db"] > 30
        assert quality["agreement"] >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_full_shipped_pool_exports(name, tmp_path):
    path = _shipped(name)
    bundle = load_bundle(export_bundle(path, tmp_path / name))
    assert len(bundle.manifest.purifiers) == len(load_weights(path).pool)
    assert all(entry["max_abs_diff"] <= PARITY_TOLERANCE
               for entry in bundle.manifest.parity["models"].values())
