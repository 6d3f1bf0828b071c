"""The ONNX Runtime pipeline reproduces the torch reference exactly, draw for draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from matt.assets import WEIGHTS_DIR
from matt.defense import RandomPatchPurifier
from matt.runtime import Pipeline
from matt.training.weights import load_weights
from tests.runtime.conftest import random_images

TOLERANCE = 1e-4


def reference(weights_path, pool_indices, patch, halo, seed) -> RandomPatchPurifier:
    modules = load_weights(weights_path).build_pool()
    return RandomPatchPurifier([modules[i] for i in pool_indices], patch, halo, seed=seed)


def assert_parity(pipe: Pipeline, weights_path, batch: int, seed: int,
                  tolerance: float = TOLERANCE) -> None:
    ref = reference(weights_path, pipe.pool_indices, pipe.patch, pipe.halo, seed)
    images = random_images((batch, *pipe.input_shape), seed=batch)
    for _ in range(2):  # a second call continues both draw streams alike
        expected = ref(torch.from_numpy(images)).numpy()
        got = pipe.purify(images)
        assert got.shape == images.shape and got.dtype == np.float32
        assert np.abs(got - expected).max() <= tolerance


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("which", ["rgb_bundle", "grey_bundle"])
def test_onnxruntime_matches_torch_reference(which, batch, request):
    weights_path, bundle = request.getfixturevalue(which)
    with Pipeline.load(bundle, backend="onnxruntime", seed=11) as pipe:
        assert pipe.backend_name == "onnxruntime" and pipe.device == "cpu"
        assert_parity(pipe, weights_path, batch, seed=11)


@pytest.mark.parametrize(("pool", "patch", "halo"),
                         [(1, None, None), ([2, 0], None, None), (None, 5, 2), (2, 32, 0)])
def test_parity_for_pools_and_tilings(rgb_bundle, pool, patch, halo):
    weights_path, bundle = rgb_bundle
    with Pipeline.load(bundle, backend="onnxruntime", pool=pool, patch=patch, halo=halo,
                       seed=3) as pipe:
        assert_parity(pipe, weights_path, batch=5, seed=3)


def test_predict_classifies_the_purified_images(rgb_bundle):
    weights_path, bundle = rgb_bundle
    weights = load_weights(weights_path)
    classifier = weights.build_classifier()
    images = random_images((6, *bundle.manifest.input_shape), seed=4)
    with Pipeline.load(bundle, backend="onnxruntime", seed=8) as pipe:
        probabilities = pipe.predict(images)
        undefended = pipe.classify_undefended(images)
    purified = reference(weights_path, pipe.pool_indices, pipe.patch, pipe.halo, 8)(
        torch.from_numpy(images))
    with torch.no_grad():
        expected = torch.softmax(classifier(purified), -1).numpy()
        expected_undefended = torch.softmax(classifier(torch.from_numpy(images)), -1).numpy()
    assert probabilities.shape == (6, 10) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)
    np.testing.assert_allclose(undefended, expected_undefended, atol=1e-4)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)


def test_torch_backend_matches_onnxruntime(rgb_bundle):
    weights_path, bundle = rgb_bundle
    images = random_images((9, *bundle.manifest.input_shape), seed=5)
    with Pipeline.load(bundle, backend="onnxruntime", seed=2, pool=[1, 2]) as ort_pipe, \
            Pipeline.load(bundle, backend="torch", seed=2, pool=[1, 2]) as torch_pipe, \
            Pipeline.from_weights(weights_path, seed=2, pool=[1, 2]) as direct:
        assert torch_pipe.backend_name == direct.backend_name == "torch"
        expected = ort_pipe.predict(images)
        np.testing.assert_allclose(torch_pipe.predict(images), expected, atol=1e-4)
        np.testing.assert_allclose(direct.predict(images), expected, atol=1e-4)
        assert direct.manifest.input_shape == bundle.manifest.input_shape


def test_unseeded_draws_differ_between_calls(rgb_bundle):
    _, bundle = rgb_bundle
    images = random_images((2, *bundle.manifest.input_shape), seed=6)
    with Pipeline.load(bundle, backend="onnxruntime") as pipe:
        assert not pipe.seeded
        assert not np.array_equal(pipe.purify(images), pipe.purify(images))


SHIPPED = ["cifar10", "fmnist"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("batch", [1, 64])
def test_shipped_bundle_parity(name, batch, tmp_path_factory):
    shipped = WEIGHTS_DIR / f"{name}.pt"
    if not shipped.is_file():
        pytest.skip(f"{shipped} is not shipped yet (the training issue ships it)")
    weights_path, bundle_dir = _shipped_bundle(name, shipped, tmp_path_factory)
    with Pipeline.load(bundle_dir, backend="onnxruntime", seed=21) as pipe:
        assert pipe.pool_size == len(load_weights(weights_path).pool)
        assert_parity(pipe, weights_path, batch, seed=21)


_EXPORTED: dict[str, tuple] = {}


def _shipped_bundle(name, shipped, tmp_path_factory):
    """Copy each shipped weights file (it may be replaced while the tests run) and export the
    copy, once per session."""
    if name not in _EXPORTED:
        import shutil

        from matt.export import export_bundle
        from matt.export.options import ExportOptions

        folder = tmp_path_factory.mktemp(name)
        weights_path = Path(shutil.copy(shipped, folder / shipped.name))
        options = ExportOptions(check_images=8)  # export's own check; the parity here is ours
        _EXPORTED[name] = (weights_path, export_bundle(weights_path, folder / "bundle",
                                                       options=options))
    return _EXPORTED[name]


def test_large_batches_run_in_bounded_calls_with_the_same_result(rgb_bundle):
    """Over PIXELS_PER_CALL the engines are called in chunks; the answer does not change."""
    from matt.runtime.scheduler import items_per_call

    _, bundle = rgb_bundle
    batch = items_per_call(bundle.manifest.input_shape) + 9
    images = random_images((batch, *bundle.manifest.input_shape), seed=12)
    with Pipeline.load(bundle, backend="onnxruntime", seed=1) as pipe:
        whole = pipe.classify_undefended(images)
        half = batch // 2
        parts = np.concatenate([pipe.classify_undefended(images[:half]),
                                pipe.classify_undefended(images[half:])])
    np.testing.assert_allclose(whole, parts, atol=1e-6)
