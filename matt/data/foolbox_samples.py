"""The labelled sample images inside the installed ``foolbox`` wheel (``foolbox/data/``).

Foolbox ships 20 real test images per dataset, named ``{dataset}_{index}_{label}.png|jpg``.
They are found through the package's location on disk, without importing foolbox and without
any network access.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np

from matt.data import cifar10, fashion_mnist
from matt.data.image_folder import read_image
from matt.data.types import LabelledImages, to_unit_nchw
from matt.errors import DataError

DATASETS = {
    "cifar10": ("RGB", cifar10.CLASS_NAMES),
    "cifar100": ("RGB", ()),
    "imagenet": ("RGB", ()),
    "mnist": ("L", tuple(str(d) for d in range(10))),
    "fashionMNIST": ("L", fashion_mnist.CLASS_NAMES),
}
_NAME = re.compile(r"^(?P<dataset>[A-Za-z0-9]+)_(?P<index>\d+)_(?P<label>\d+)\.(png|jpg)$")


def foolbox_data_dir() -> Path:
    """The ``foolbox/data`` folder of the installed wheel."""
    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("foolbox is not installed; pip install 'matt[eval]' (foolbox==3.3.4)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not folder.is_dir():
        raise DataError(f"{folder} is missing; reinstall foolbox==3.3.4, whose wheel ships it")
    return folder


def sample_files(dataset: str) -> list[tuple[int, int, Path]]:
    """``(index, label, path)`` of a dataset's sample images, by index."""
    if dataset not in DATASETS:
        raise DataError(f"foolbox has no samples of {dataset!r}; known: {sorted(DATASETS)}")
    found = []
    for path in foolbox_data_dir().iterdir():
        match = _NAME.match(path.name)
        if match and match["dataset"] == dataset:
            found.append((int(match["index"]), int(match["label"]), path))
    if not found:
        raise DataError(f"no {dataset} samples in {foolbox_data_dir()}; reinstall foolbox==3.3.4")
    return sorted(found)


def load_foolbox_samples(dataset: str = "cifar10", size: int | None = None) -> LabelledImages:
    """The dataset's foolbox samples: images in [0, 1] NCHW, labels int64, class names.

    Args:
        dataset: ``cifar10``, ``cifar100``, ``imagenet``, ``mnist`` or ``fashionMNIST``.
        size: resize to ``size``×``size`` (bicubic). ImageNet samples differ in size (most are
            512×512, one 1024×683), so they need it; labels are ImageNet class indices.
    """
    mode, class_names = DATASETS.get(dataset, ("RGB", ()))
    files = sample_files(dataset)
    images = [read_image(path, size, mode) for _, _, path in files]
    if len({image.shape for image in images}) > 1:
        raise DataError(f"foolbox {dataset} samples differ in size; pass size (e.g. 224)")
    pixels = np.stack(images)
    labels = np.asarray([label for _, label, _ in files], dtype=np.int64)
    return LabelledImages(to_unit_nchw(pixels), labels, class_names)
