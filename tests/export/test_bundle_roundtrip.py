import numpy as np
import onnxruntime as ort
import pytest
import torch

from matt.bundle import load_bundle
from matt.errors import BundleError, ExportError
from matt.export import export_bundle
from matt.training.weights import load_weights


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from matt.training.weights import save_weights
    from tests.conftest import make_weights

    root = tmp_path_factory.mktemp("export")
    weights = save_weights(make_weights(pool_size=2), root / "weights.pt")
    return weights, export_bundle(weights, root / "bundle")


def test_onnx_matches_torch(exported):
    weights_path, bundle_dir = exported
    bundle = load_bundle(bundle_dir)
    weights = load_weights(weights_path)
    images = torch.rand(3, 3, 32, 32)
    for index, purifier in enumerate(weights.build_pool()):
        session = ort.InferenceSession(str(bundle.purifier_path(index)))
        for shape in [(3, 3, 32, 32), (5, 3, 15, 22)]:
            batch = torch.rand(shape)
            got = session.run(None, {"images": batch.numpy()})[0]
            with torch.no_grad():
                np.testing.assert_allclose(got, purifier(batch).numpy(), atol=1e-4)
    session = ort.InferenceSession(str(bundle.classifier_path()))
    probabilities = session.run(None, {"images": images.numpy()})[0]
    with torch.no_grad():
        expected = torch.softmax(weights.build_classifier()(images), -1).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert bundle.manifest.halo == weights.tiling.halo
    assert bundle.manifest.purifiers[0].receptive_radius == weights.pool[0].spec.receptive_radius


def test_tampered_file_is_named(exported, tmp_path):
    import shutil

    _, bundle_dir = exported
    copy = tmp_path / "copy"
    shutil.copytree(bundle_dir, copy)
    target = copy / "purifiers" / "p1.onnx"
    target.write_bytes(target.read_bytes()[:-10])
    with pytest.raises(BundleError, match=r"p1\.onnx"):
        load_bundle(copy)


def test_existing_output_is_not_overwritten(exported):
    weights_path, bundle_dir = exported
    with pytest.raises(ExportError, match="--force"):
        export_bundle(weights_path, bundle_dir)
