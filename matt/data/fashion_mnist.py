"""Fashion-MNIST from its IDX files (gzip'd or plain), as Debian's dataset-fashion-mnist has it."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from matt.data.types import LabelledImages, to_unit_nchw
from matt.errors import DataError

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_PREFIX = {"train": "train", "test": "t10k"}
_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
_FIX = "install Debian's dataset-fashion-mnist (make does) or pass --data-dir"


def load_fashion_mnist(split: str = "train", data_dir: str | Path | None = None) -> LabelledImages:
    """Read one split: images (N, 1, 28, 28) float32 in [0, 1], labels int64, class names.

    Args:
        split: ``train`` (60 000 images) or ``test`` (10 000).
        data_dir: folder holding ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``;
            defaults to ``/usr/share/datasets/fashion-mnist``.
    """
    if split not in _PREFIX:
        raise DataError(f"Fashion-MNIST split must be 'train' or 'test', not {split!r}")
    folder = Path(data_dir) if data_dir is not None else DEFAULT_DIR
    if not folder.is_dir():
        raise DataError(f"Fashion-MNIST folder {folder} does not exist; {_FIX}")
    prefix = _PREFIX[split]
    pixels = read_idx(_find(folder, f"{prefix}-images-idx3-ubyte"), _IMAGES_MAGIC)
    labels = read_idx(_find(folder, f"{prefix}-labels-idx1-ubyte"), _LABELS_MAGIC)
    if pixels.shape[1:] != (28, 28):
        raise DataError(f"Fashion-MNIST images in {folder} are {pixels.shape[1:]}, not 28×28")
    if len(pixels) != len(labels):
        raise DataError(
            f"Fashion-MNIST {split} in {folder}: {len(pixels)} images but {len(labels)} labels"
        )
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise DataError(f"labels in {folder} exceed 9; the files are not Fashion-MNIST; {_FIX}")
    return LabelledImages(to_unit_nchw(pixels), labels.astype(np.int64), CLASS_NAMES)


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder} has no {stem}[.gz]; {_FIX}")


def read_idx(path: Path, magic: int) -> np.ndarray:
    """An IDX file of unsigned bytes as an array, its magic number and size checked."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read IDX file {path}: {error}; re-download it") from error
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != magic:
        found = raw[:4].hex() or "nothing"
        raise DataError(f"{path} is not an IDX file (magic {found}, expected {magic:08x})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {path} is truncated inside its header; re-download it")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(
            f"IDX file {path} has {len(raw)} bytes, its header promises {expected}; re-download it"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
