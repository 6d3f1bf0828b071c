"""The INT8 quality figures: PSNR, patch-wise purification as deployed, accuracy bookkeeping."""

import numpy as np
import pytest
import torch

from matt.calibration.datasets import ImageSet
from matt.calibration.quality import (
    classifier_quality,
    ort_runner,
    psnr_db,
    purifier_quality,
    purify_patchwise,
)
from matt.models import purify_whole


def test_psnr_of_known_error():
    reference = np.zeros((2, 1, 4, 4), dtype=np.float32)
    assert psnr_db(reference, reference + 0.1) == pytest.approx(20.0, abs=0.01)
    assert psnr_db(reference, reference) is None


def test_patchwise_onnx_purification_equals_whole_image_with_enough_halo(onnx_models):
    module = onnx_models["purifier_module"]
    radius = module.spec.receptive_radius
    images = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    patchwise = purify_patchwise(ort_runner(onnx_models["purifier"]), images, 8, radius)
    with torch.no_grad():
        whole = purify_whole(module, torch.from_numpy(images), radius).numpy()
    np.testing.assert_allclose(patchwise, whole, atol=1e-4)


def test_identical_models_cost_nothing(onnx_models):
    rng = np.random.default_rng(0)
    images = ImageSet(rng.random((12, 3, 32, 32), dtype=np.float32),
                      np.array([0, 1, 2, 3, 4, 5] + [-1] * 6, dtype=np.int64), "test images")
    purify = ort_runner(onnx_models["purifier"])
    classify = ort_runner(onnx_models["classifier"])
    quality = purifier_quality(purify, purify, classify, images, patch=8, halo=4,
                               receptive_radius=3)
    assert quality["psnr_int8_vs_fp32_db"] is None
    assert quality["psnr_change_db"] == 0 and quality["accuracy_change"] == 0
    assert quality["agreement"] == 1 and quality["labelled"] == 6 and quality["images"] == 12
    assert 0 <= quality["accuracy_fp32"] <= 1


def test_a_worse_model_shows_up_in_the_figures(onnx_models):
    rng = np.random.default_rng(0)
    images = ImageSet(rng.random((16, 3, 32, 32), dtype=np.float32),
                      rng.integers(0, 10, 16).astype(np.int64), "test images")
    classify = ort_runner(onnx_models["classifier"])
    labels = classify(images.images).argmax(axis=1)
    images = ImageSet(images.images, labels, "labelled by the classifier itself")

    def flip(batch):
        return classify(batch)[:, ::-1].copy()

    quality = classifier_quality(classify, flip, images)
    assert quality["accuracy_fp32"] == 1.0
    assert quality["accuracy_change"] < 0
    assert quality["max_abs_probability_diff"] > 0


@pytest.mark.parametrize("halo", [0, 2, 5, 8])
def test_as_deployed_equals_patchwise(onnx_models, halo):
    """The padded whole-image shortcut is taken only where it gives the patch-wise numbers."""
    from matt.calibration.quality import purify_as_deployed

    purify = ort_runner(onnx_models["purifier"])
    radius = onnx_models["purifier_module"].spec.receptive_radius
    images = np.random.default_rng(2).random((2, 3, 32, 32), dtype=np.float32)
    np.testing.assert_allclose(purify_as_deployed(purify, images, 8, halo, radius),
                               purify_patchwise(purify, images, 8, halo), atol=1e-5)
