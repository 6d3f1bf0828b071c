"""Calibration and evaluation images: real where the dataset exists here, disjoint, labelled."""

import numpy as np
import pytest
from PIL import Image

from matt.calibration.datasets import (
    UNLABELLED,
    calibration_images,
    evaluation_images,
    load_calibration_source,
)
from matt.errors import InputError


def test_fashion_mnist_evaluation_is_the_labelled_test_split():
    first = evaluation_images("fmnist", (1, 28, 28), 50)
    again = evaluation_images("fmnist", (1, 28, 28), 50)
    assert first.real and "test" in first.source
    assert first.images.shape == (50, 1, 28, 28) and first.images.dtype == np.float32
    assert first.labelled.all() and set(first.labels) <= set(range(10))
    np.testing.assert_array_equal(first.images, again.images)
    assert first.images.min() >= 0 and first.images.max() <= 1


def test_fashion_mnist_calibration_comes_from_the_train_split():
    calibration = calibration_images("fmnist", (1, 28, 28), 40, seed=5)
    evaluation = evaluation_images("fmnist", (1, 28, 28), 200)
    assert calibration.real and "train" in calibration.source
    assert calibration.images.shape == (40, 1, 28, 28)
    flat_eval = {image.tobytes() for image in evaluation.images}
    assert not [image for image in calibration.images if image.tobytes() in flat_eval]
    other_seed = calibration_images("fmnist", (1, 28, 28), 40, seed=6)
    assert not np.array_equal(calibration.images, other_seed.images)


def test_cifar10_evaluation_starts_with_the_labelled_foolbox_images():
    evaluation = evaluation_images("cifar10", (3, 32, 32), 30)
    assert evaluation.real and evaluation.images.shape == (30, 3, 32, 32)
    assert evaluation.labelled[:20].all() and not evaluation.labelled[20:].any()
    calibration = calibration_images("cifar10", (3, 32, 32), 10, seed=0)
    assert calibration.real and (calibration.labels == UNLABELLED).all()
    assert not np.array_equal(calibration.images, evaluation.images[20:30])


@pytest.mark.parametrize(("dataset", "shape"), [("svhn", (3, 32, 32)), ("fmnist", (1, 32, 32)),
                                                ("cifar10", (3, 16, 24))])
def test_without_matching_images_the_stand_in_is_random_and_says_so(dataset, shape):
    images = evaluation_images(dataset, shape, 6)
    assert not images.real and images.source.startswith("random uniform images")
    assert images.images.shape == (6, *shape)
    assert dataset in images.source


def test_npy_sources_in_both_layouts(tmp_path):
    rng = np.random.default_rng(0)
    nchw = tmp_path / "nchw.npy"
    np.save(nchw, rng.random((30, 3, 32, 32), dtype=np.float32))
    nhwc = tmp_path / "nhwc.npy"
    np.save(nhwc, rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8))
    drawn = load_calibration_source(str(nchw), "cifar10", (3, 32, 32), 12, seed=0)
    assert drawn.images.shape == (12, 3, 32, 32) and str(nchw) in drawn.source
    converted = load_calibration_source(str(nhwc), "cifar10", (3, 32, 32), 12, seed=0)
    assert converted.images.shape == (5, 3, 32, 32) and converted.images.max() <= 1


def test_image_folder_source(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / "tree" / label).mkdir(parents=True)
        for index in range(3):
            pixels = np.full((40, 40, 3), 40 * index, dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "tree" / label / f"{index}.png")
    images = load_calibration_source(str(tmp_path / "tree"), "cifar10", (3, 32, 32), 100, seed=0)
    assert images.images.shape == (6, 3, 32, 32)


@pytest.mark.parametrize(("content", "message"), [
    ("float-out-of-range", "in \\[0, 1\\]"), ("wrong-shape", "takes"), ("text", ".npy"),
    ("missing", "no such file"), ("flat", "4-d"),
])
def test_bad_sources_are_refused(tmp_path, content, message):
    path = tmp_path / "calibration.npy"
    if content == "float-out-of-range":
        np.save(path, np.full((2, 3, 32, 32), 2.0, dtype=np.float32))
    elif content == "wrong-shape":
        np.save(path, np.zeros((2, 1, 32, 32), dtype=np.float32))
    elif content == "flat":
        np.save(path, np.zeros((2, 32), dtype=np.float32))
    elif content == "text":
        path = tmp_path / "calibration.txt"
        path.write_text("images")
    with pytest.raises(InputError, match=message):
        load_calibration_source(str(path), "cifar10", (3, 32, 32), 4, seed=0)


def test_random_source_is_recorded_as_random():
    images = load_calibration_source("random", "cifar10", (3, 32, 32), 4, seed=0)
    assert not images.real and "--calibration random" in images.source
