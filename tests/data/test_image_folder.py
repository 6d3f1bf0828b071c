"""ImageFolder tree reader, on trees of PNG and JPEG files the tests write."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from matt.data.image_folder import load_image_folder
from matt.errors import DataError


def write_tree(root, size=(16, 16), seed=0):
    rng = np.random.default_rng(seed)
    written = {}
    for name, suffix in (("cat", ".png"), ("airplane", ".png"), ("dog", ".jpg")):
        (root / name).mkdir(parents=True)
        for index in range(3):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index}{suffix}", quality=95)
            written[(name, index)] = pixels
    return written


def test_classes_are_sorted_folder_names_and_png_is_lossless(tmp_path):
    written = write_tree(tmp_path)
    data = load_image_folder(tmp_path)
    assert data.class_names == ("airplane", "cat", "dog")
    np.testing.assert_array_equal(data.labels, np.repeat([0, 1, 2], 3))
    assert data.images.shape == (9, 3, 16, 16) and data.images.dtype == np.float32
    np.testing.assert_allclose(data.images[0].transpose(1, 2, 0) * 255, written[("airplane", 0)],
                               atol=1e-3)
    # JPEG is lossy: the reader must give exactly what the decoder gives for the file.
    decoded = np.asarray(Image.open(tmp_path / "dog" / "0.jpg").convert("RGB"))
    np.testing.assert_allclose(data.images[6].transpose(1, 2, 0) * 255, decoded, atol=1e-3)


def test_resize_and_grey(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("RGB", (40, 20), (255, 0, 0)).save(tmp_path / "a" / "wide.png")
    Image.new("RGB", (10, 30), (255, 0, 0)).save(tmp_path / "a" / "tall.png")
    with pytest.raises(DataError, match="differ in size"):
        load_image_folder(tmp_path)
    rgb = load_image_folder(tmp_path, size=8)
    assert rgb.images.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(rgb.images[:, 0], 1.0, atol=1e-6)
    grey = load_image_folder(tmp_path, size=8, channels=1)
    assert grey.images.shape == (2, 1, 8, 8)
    np.testing.assert_allclose(grey.images, 76 / 255, atol=2 / 255)  # ITU-R 601 luma of red


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "no class subfolders"),
        (lambda root: (root / "a").mkdir(parents=True), "holds no"),
        (lambda root: ((root / "a").mkdir(parents=True),
                       (root / "a" / "x.png").write_bytes(b"not a png")), "cannot read image"),
    ],
)
def test_bad_trees(tmp_path, make, message):
    root = tmp_path / "tree"
    make(root)
    with pytest.raises(DataError, match=message):
        load_image_folder(root)


def test_channels_must_be_1_or_3(tmp_path):
    write_tree(tmp_path)
    with pytest.raises(DataError, match="channels must be 1 or 3"):
        load_image_folder(tmp_path, channels=4)
