"""Fashion-MNIST IDX reader: fixtures written in the real format, then the real files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from matt.data.fashion_mnist import CLASS_NAMES, DEFAULT_DIR, load_fashion_mnist
from matt.errors import DataError


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file: 0x0000, type 0x08 (ubyte), ndim, big-endian sizes, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_split(folder: Path, prefix: str, pixels: np.ndarray, labels: np.ndarray,
                compress: bool = True) -> None:
    for stem, array in ((f"{prefix}-images-idx3-ubyte", pixels),
                        (f"{prefix}-labels-idx1-ubyte", labels)):
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(array)))
        else:
            (folder / stem).write_bytes(idx_bytes(array))


@pytest.fixture
def pixels_and_labels() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12) % 10


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize(("split", "prefix"), [("train", "train"), ("test", "t10k")])
def test_reads_what_was_written(tmp_path, pixels_and_labels, compress, split, prefix):
    pixels, labels = pixels_and_labels
    write_split(tmp_path, prefix, pixels, labels, compress)
    data = load_fashion_mnist(split, tmp_path)
    assert data.images.shape == (12, 1, 28, 28)
    assert data.images.dtype == np.float32 and data.labels.dtype == np.int64
    np.testing.assert_allclose(data.images[:, 0] * 255, pixels, atol=1e-4)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.class_names == CLASS_NAMES


def test_missing_folder_names_it_and_the_fix(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*dataset-fashion-mnist"):
        load_fashion_mnist("train", tmp_path / "nowhere")


def test_missing_file_is_named(tmp_path, pixels_and_labels):
    write_split(tmp_path, "train", *pixels_and_labels)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        load_fashion_mnist("train", tmp_path)


def test_wrong_magic_is_refused(tmp_path, pixels_and_labels):
    pixels, labels = pixels_and_labels
    write_split(tmp_path, "train", pixels, labels)
    # An images file where the labels file should be: magic 0x803, not 0x801.
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(pixels)))
    with pytest.raises(DataError, match=r"not an IDX file.*expected 00000801"):
        load_fashion_mnist("train", tmp_path)


def test_truncated_file_is_refused(tmp_path, pixels_and_labels):
    pixels, labels = pixels_and_labels
    write_split(tmp_path, "train", pixels, labels)
    cut = idx_bytes(pixels)[:-100]
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(cut))
    with pytest.raises(DataError, match="header promises"):
        load_fashion_mnist("train", tmp_path)


def test_corrupt_gzip_is_refused(tmp_path, pixels_and_labels):
    write_split(tmp_path, "train", *pixels_and_labels)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DataError, match="cannot read IDX file"):
        load_fashion_mnist("train", tmp_path)


def test_count_mismatch_and_bad_split(tmp_path, pixels_and_labels):
    pixels, labels = pixels_and_labels
    write_split(tmp_path, "train", pixels, labels[:5])
    with pytest.raises(DataError, match="12 images but 5 labels"):
        load_fashion_mnist("train", tmp_path)
    with pytest.raises(DataError, match="'train' or 'test'"):
        load_fashion_mnist("validation", tmp_path)


@pytest.mark.skipif(not DEFAULT_DIR.is_dir(), reason=f"{DEFAULT_DIR} absent: "
                    "install Debian's dataset-fashion-mnist")
@pytest.mark.parametrize(("split", "count"), [("train", 60_000), ("test", 10_000)])
def test_real_fashion_mnist(split, count):
    data = load_fashion_mnist(split)
    assert data.images.shape == (count, 1, 28, 28)
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    # Fashion-MNIST is exactly balanced: a tenth of each split per class.
    np.testing.assert_array_equal(np.bincount(data.labels), np.full(10, count // 10))
    assert 0.2 < data.images.mean() < 0.4
