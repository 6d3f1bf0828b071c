"""Real images of a bundle's dataset: for INT8 calibration, the export parity check and quality.

Two roles, kept apart so calibration never sees the images it is judged on:

* **calibration** — Fashion-MNIST's train split for ``fmnist``; natural crops of real
  photographs for ``cifar10`` (CIFAR-10 itself is not on these machines);
* **evaluation** — Fashion-MNIST's test split (labelled); for ``cifar10`` the twenty labelled
  CIFAR-10 test images shipped in the foolbox wheel, then natural crops (unlabelled, label -1)
  drawn with another seed.

A dataset without images here (or whose images do not have the bundle's shape) gets uniform
random images, and its :attr:`ImageSet.source` says so; the manifest records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matt.errors import DataError, InputError

UNLABELLED = -1
FASHION_MNIST_NAMES = frozenset({"fmnist", "fashion-mnist", "fashion_mnist", "fashionmnist"})
CIFAR10_NAMES = frozenset({"cifar10", "cifar-10"})
_EVALUATION_CROP_SEED = 1_000_003


@dataclass(frozen=True)
class ImageSet:
    """Images in [0, 1], NCHW float32, with labels (``-1`` where unknown) and their origin.

    Attributes:
        images: (N, C, H, W) float32 in [0, 1].
        labels: (N,) int64 class indices, ``-1`` for unlabelled images.
        source: where the images come from, as the manifest records it.
        real: False when the images are random stand-ins.
    """

    images: np.ndarray
    labels: np.ndarray
    source: str
    real: bool = True

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.float32:
            raise DataError(f"{self.source}: images must be float32 NCHW, got "
                            f"{self.images.dtype} {self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise DataError(f"{self.source}: {len(self.images)} images but labels of shape "
                            f"{self.labels.shape}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of the images with a known label."""
        return self.labels != UNLABELLED

    def describe(self) -> dict[str, object]:
        return {"source": self.source, "images": len(self), "labelled": int(self.labelled.sum()),
                "real": self.real}


def random_images(input_shape: tuple[int, int, int], count: int, seed: int,
                  reason: str) -> ImageSet:
    """Uniform noise in [0, 1]: the stand-in for a dataset with no images here."""
    images = np.random.default_rng(seed).random((count, *input_shape), dtype=np.float32)
    labels = np.full(count, UNLABELLED, dtype=np.int64)
    return ImageSet(images, labels, f"random uniform images ({reason})", real=False)


def _fits(images: np.ndarray, input_shape: tuple[int, int, int]) -> bool:
    return tuple(images.shape[1:]) == tuple(input_shape)


def _fashion_mnist(split: str, input_shape: tuple[int, int, int], count: int,
                   seed: int | None) -> ImageSet:
    from matt.data import load_fashion_mnist

    data = load_fashion_mnist(split)
    if not _fits(data.images, input_shape):
        raise DataError(f"Fashion-MNIST images are {data.images.shape[1:]}, the bundle takes "
                        f"{input_shape}")
    if seed is None:
        chosen = np.arange(min(count, len(data)))
        where = f"[0:{len(chosen)}]"
    else:
        chosen = np.sort(np.random.default_rng(seed).choice(len(data), min(count, len(data)),
                                                            replace=False))
        where = f", {len(chosen)} drawn with seed {seed}"
    return ImageSet(data.images[chosen], data.labels[chosen], f"Fashion-MNIST {split}{where}")


def _natural_crops(input_shape: tuple[int, int, int], count: int, seed: int) -> ImageSet:
    from matt.data import sample_natural_crops

    channels, height, width = input_shape
    if channels != 3 or height != width:
        raise DataError(f"natural crops are square RGB, the bundle takes {input_shape}")
    crops = sample_natural_crops(count, size=height, seed=seed)
    return ImageSet(crops, np.full(count, UNLABELLED, dtype=np.int64),
                    f"natural photo crops ({count}, seed {seed})")


def _cifar10_evaluation(input_shape: tuple[int, int, int], count: int) -> ImageSet:
    from matt.data import load_foolbox_samples

    samples = load_foolbox_samples("cifar10")
    if not _fits(samples.images, input_shape):
        raise DataError(f"CIFAR-10 samples are {samples.images.shape[1:]}, the bundle takes "
                        f"{input_shape}")
    labelled = ImageSet(samples.images[:count], samples.labels[:count],
                        f"foolbox CIFAR-10 test samples ({min(count, len(samples))})")
    missing = count - len(labelled)
    if missing <= 0:
        return labelled
    crops = _natural_crops(input_shape, missing, _EVALUATION_CROP_SEED)
    return ImageSet(np.concatenate([labelled.images, crops.images]),
                    np.concatenate([labelled.labels, crops.labels]),
                    f"{labelled.source} + {crops.source}")


def evaluation_images(dataset: str, input_shape: tuple[int, int, int], count: int) -> ImageSet:
    """``count`` held-out images of the bundle's dataset, the same on every call."""
    name = dataset.lower()
    try:
        if name in FASHION_MNIST_NAMES:
            return _fashion_mnist("test", input_shape, count, seed=None)
        if name in CIFAR10_NAMES:
            return _cifar10_evaluation(input_shape, count)
        if name == "imagenet":
            from matt.data import load_foolbox_samples

            samples = load_foolbox_samples("imagenet", size=input_shape[-1])
            return ImageSet(samples.images[:count], samples.labels[:count],
                            f"foolbox ImageNet samples ({min(count, len(samples))}, resized)")
    except DataError as error:
        return random_images(input_shape, count, seed=0, reason=f"{dataset}: {error}")
    return random_images(input_shape, count, seed=0, reason=f"no images of {dataset!r} here")


def calibration_images(dataset: str, input_shape: tuple[int, int, int], count: int,
                       seed: int) -> ImageSet:
    """``count`` images of the bundle's dataset for calibration, disjoint from evaluation's."""
    name = dataset.lower()
    try:
        if name in FASHION_MNIST_NAMES:
            return _fashion_mnist("train", input_shape, count, seed=seed)
        if name in CIFAR10_NAMES:
            return _natural_crops(input_shape, count, seed)
    except DataError as error:
        return random_images(input_shape, count, seed, reason=f"{dataset}: {error}")
    return random_images(input_shape, count, seed, reason=f"no images of {dataset!r} here")


def load_calibration_source(source: str, dataset: str, input_shape: tuple[int, int, int],
                            count: int, seed: int) -> ImageSet:
    """The calibration set named by ``--calibration``: ``auto``, ``random`` or a path.

    A path may be a ``.npy`` array (N×C×H×W float in [0, 1], or N×H×W×C uint8), a CIFAR-10
    python folder (``data_batch_*``) or an image-folder tree; ``count`` images are drawn from it
    with ``seed``.
    """
    if source == "auto":
        return calibration_images(dataset, input_shape, count, seed)
    if source == "random":
        return random_images(input_shape, count, seed, reason="--calibration random")
    path = Path(source)
    if not path.exists():
        raise InputError(f"--calibration {source}: no such file or folder; pass auto, random, "
                         "a .npy file, a CIFAR-10 python folder or an image folder")
    images = _read_path(path, input_shape)
    if not _fits(images, input_shape):
        raise InputError(f"--calibration {source}: images are {images.shape[1:]}, the bundle "
                         f"takes {input_shape} (C, H, W)")
    if len(images) > count:
        chosen = np.sort(np.random.default_rng(seed).choice(len(images), count, replace=False))
        images = images[chosen]
    return ImageSet(np.ascontiguousarray(images), np.full(len(images), UNLABELLED, np.int64),
                    f"{path} ({len(images)} images, seed {seed})")


def _read_path(path: Path, input_shape: tuple[int, int, int]) -> np.ndarray:
    channels, height, _ = input_shape
    if path.is_file():
        if path.suffix != ".npy":
            raise InputError(f"--calibration {path}: a file must be a .npy array of images")
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise InputError(f"--calibration {path}: not a readable .npy array ({error})") from None
        return _as_unit_nchw(array, path, channels)
    if (path / "data_batch_1").is_file():
        from matt.data import load_cifar10

        return load_cifar10(path, split="train").images
    from matt.data import load_image_folder

    return load_image_folder(path, size=height, channels=channels).images


def _as_unit_nchw(array: np.ndarray, path: Path, channels: int) -> np.ndarray:
    if array.ndim != 4:
        raise InputError(f"--calibration {path}: expected a 4-d image array, got {array.shape}")
    if array.dtype == np.uint8:
        if array.shape[-1] == channels and array.shape[1] != channels:
            array = array.transpose(0, 3, 1, 2)
        return array.astype(np.float32) / np.float32(255)
    array = array.astype(np.float32)
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise InputError(f"--calibration {path}: float images must be finite and in [0, 1]")
    return array
