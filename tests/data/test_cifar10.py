"""CIFAR-10 python-pickle reader, on batches written in the official format."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from matt.data.cifar10 import CLASS_NAMES, TRAIN_BATCHES, load_cifar10
from matt.errors import DataError


def write_batch(path: Path, pixels_nchw: np.ndarray, labels: list[int], protocol: int = 2) -> None:
    """Like the official files: a dict with bytes keys, data uint8 (N, 3072) R, G, B planes."""
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": labels,
        b"data": pixels_nchw.reshape(len(labels), -1),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    path.write_bytes(pickle.dumps(batch, protocol=protocol))


def write_folder(folder: Path, count: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    written = {}
    for name in (*TRAIN_BATCHES, "test_batch"):
        pixels = rng.integers(0, 256, (count, 3, 32, 32), dtype=np.uint8)
        write_batch(folder / name, pixels, [int(v) for v in rng.integers(0, 10, count)])
        written[name] = pixels
    meta = {b"label_names": [n.encode() for n in CLASS_NAMES], b"num_cases_per_batch": count}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


def test_test_split_round_trips_with_rgb_planes(tmp_path):
    written = write_folder(tmp_path)
    data = load_cifar10(tmp_path, "test")
    assert data.images.shape == (6, 3, 32, 32) and data.images.dtype == np.float32
    np.testing.assert_allclose(data.images * 255, written["test_batch"], atol=1e-4)
    assert data.class_names == CLASS_NAMES


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_channel_order_is_red_plane_first(tmp_path, protocol):
    pixels = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    pixels[0, 0] = 255  # a pure red image, stored as 1024 red values first
    write_batch(tmp_path / "test_batch", pixels, [3], protocol)
    data = load_cifar10(tmp_path, "test")
    np.testing.assert_allclose(data.images[0].mean(axis=(1, 2)), [1.0, 0.0, 0.0])
    assert data.class_names == CLASS_NAMES  # no batches.meta: the standard names


def test_train_split_concatenates_five_batches(tmp_path):
    written = write_folder(tmp_path, count=4)
    data = load_cifar10(tmp_path, "train")
    assert len(data) == 20
    expected = np.concatenate([written[name] for name in TRAIN_BATCHES])
    np.testing.assert_allclose(data.images * 255, expected, atol=1e-4)


def test_missing_folder_and_batch(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*cifar-10-batches-py"):
        load_cifar10(tmp_path / "nowhere")
    write_folder(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3 is missing"):
        load_cifar10(tmp_path, "train")


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickle_with_foreign_globals_is_refused_not_run(tmp_path):
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": _RunsCode()}))
    with pytest.raises(DataError, match=r"not a CIFAR-10 python pickle.*system"):
        load_cifar10(tmp_path, "test")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a pickle at all", "not a CIFAR-10 python pickle"),
        (pickle.dumps([1, 2, 3]), "not a CIFAR-10 dict"),
        (pickle.dumps({b"labels": [1]}), "lacks 'data'"),
        (pickle.dumps({b"data": np.zeros((1, 100), np.uint8), b"labels": [1]}), "expected uint8"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]}),
         "labels outside"),
    ],
)
def test_malformed_batches(tmp_path, content, message):
    (tmp_path / "test_batch").write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_cifar10(tmp_path, "test")
