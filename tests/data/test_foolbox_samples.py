"""The labelled sample images inside the installed foolbox wheel."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from matt.data.cifar10 import CLASS_NAMES
from matt.data.foolbox_samples import foolbox_data_dir, load_foolbox_samples, sample_files
from matt.errors import DataError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("foolbox") is None, reason="foolbox not installed: pip install "
    "'matt[eval]'"
)


def test_cifar10_samples_are_twenty_labelled_images():
    data = load_foolbox_samples("cifar10")
    assert data.images.shape == (20, 3, 32, 32)
    assert data.class_names == CLASS_NAMES
    labels_in_names = [int(path.stem.rsplit("_", 1)[1]) for _, _, path in sample_files("cifar10")]
    np.testing.assert_array_equal(data.labels, labels_in_names)
    assert len(set(data.labels.tolist())) >= 8  # real samples span most classes
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    # Real photographs, not blanks: every image has contrast.
    assert (data.images.reshape(20, -1).std(axis=1) > 0.05).all()


@pytest.mark.parametrize(("dataset", "shape"), [("mnist", (20, 1, 28, 28)),
                                                ("fashionMNIST", (20, 1, 28, 28)),
                                                ("cifar100", (20, 3, 32, 32))])
def test_other_small_sets(dataset, shape):
    assert load_foolbox_samples(dataset).images.shape == shape


def test_imagenet_needs_a_size_and_then_loads():
    with pytest.raises(DataError, match="differ in size; pass size"):
        load_foolbox_samples("imagenet")
    data = load_foolbox_samples("imagenet", size=64)
    assert data.images.shape == (20, 3, 64, 64)
    assert data.labels.max() < 1000


def test_unknown_dataset_is_refused():
    with pytest.raises(DataError, match="no samples of 'svhn'"):
        load_foolbox_samples("svhn")


def test_files_are_found_without_importing_foolbox():
    assert foolbox_data_dir().name == "data"
    assert foolbox_data_dir().parent.name == "foolbox"
