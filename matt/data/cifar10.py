"""CIFAR-10 in its official python-pickle folder (``cifar-10-batches-py``).

The batches are pickles. They are read with an unpickler that refuses every global except the
numpy reconstructors a pickled uint8 array needs (and ``_codecs.encode``, with which Python 3
writes bytes at pickle protocol 2), so a foreign or tampered file cannot run code on load; it
fails with a :class:`DataError` instead.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from matt.data.types import LabelledImages
from matt.errors import DataError

CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
_FIX = "point --data-dir at the extracted cifar-10-batches-py folder"
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, str, numbers and numpy arrays; nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def read_pickle_dict(path: Path) -> dict[str, Any]:
    """One CIFAR pickle (batch or meta) as a dict with ``str`` keys, read safely."""
    if not path.is_file():
        raise DataError(f"CIFAR-10 file {path} is missing; {_FIX}")
    try:
        with path.open("rb") as stream:
            content = _ArrayOnlyUnpickler(stream, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise DataError(f"{path} is not a CIFAR-10 python pickle ({error}); {_FIX}") from error
    if not isinstance(content, dict):
        raise DataError(f"{path} holds a {type(content).__name__}, not a CIFAR-10 dict; {_FIX}")
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in content.items()}


def load_cifar10(data_dir: str | Path, split: str = "test") -> LabelledImages:
    """Read one split: images (N, 3, 32, 32) float32 in [0, 1], labels int64, class names.

    Args:
        data_dir: the folder holding the batches and ``batches.meta``.
        split: ``train`` (``data_batch_1`` … ``data_batch_5``) or ``test`` (``test_batch``).
    """
    batches = {"train": TRAIN_BATCHES, "test": TEST_BATCHES}.get(split)
    if batches is None:
        raise DataError(f"CIFAR-10 split must be 'train' or 'test', not {split!r}")
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"CIFAR-10 folder {folder} does not exist; {_FIX}")
    pixels, labels = zip(*(_read_batch(folder / name) for name in batches), strict=True)
    images = np.concatenate(pixels).astype(np.float32) / np.float32(255)
    return LabelledImages(images, np.concatenate(labels), _class_names(folder))


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = read_pickle_dict(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{path} lacks 'data' or 'labels'; it is not a CIFAR-10 batch; {_FIX}")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(
            f"{path}: data is {data.dtype} {data.shape}, expected uint8 (N, 3072); {_FIX}"
        )
    label_array = np.asarray(labels, dtype=np.int64)
    if label_array.shape != (len(data),):
        raise DataError(f"{path}: {len(data)} images but {label_array.size} labels")
    if label_array.size and (label_array.min() < 0 or label_array.max() >= len(CLASS_NAMES)):
        raise DataError(f"{path}: labels outside 0..9; it is not a CIFAR-10 batch")
    # Rows are 1024 red, 1024 green, 1024 blue values, each plane in row-major order: NCHW.
    return data.reshape(-1, 3, 32, 32), label_array


def _class_names(folder: Path) -> tuple[str, ...]:
    meta_path = folder / "batches.meta"
    if not meta_path.is_file():
        return CLASS_NAMES
    names = read_pickle_dict(meta_path).get("label_names")
    if not isinstance(names, list) or len(names) != len(CLASS_NAMES):
        raise DataError(f"{meta_path}: label_names is not a list of 10 names; {_FIX}")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
