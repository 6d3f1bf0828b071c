"""An ImageNet-layout folder: ``root/<wnid>/<image>.JPEG``, one subfolder per class.

The standard ILSVRC-2012 ``train`` and (re-sorted) ``val`` trees use this layout; sorted wnid
folder names give the standard class indices 0..999 when all 1000 are present. A partial tree
(fewer folders) would shift indices, so ``class_index`` maps a folder name to its index when
the tree is not complete. Images are read as the Lite0 evaluation expects them before its
in-model crop: the shorter side resized to ``size`` (bicubic), the centre ``size``×``size``
kept (``IMAGENET_SIDE`` = 224).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from matt.data.types import LabelledImages, to_unit_nchw
from matt.errors import DataError

IMAGENET_SIDE = 224
IMAGENET_SUFFIXES = (".jpeg", ".jpg", ".png")


def load_imagenet_folder(root: str | Path, size: int = IMAGENET_SIDE,
                         class_index: Mapping[str, int] | None = None,
                         limit_per_class: int | None = None) -> LabelledImages:
    """Read ``root/<class>/<image>`` into one (N, 3, size, size) batch.

    Args:
        root: the tree's top folder (e.g. ``ILSVRC2012/train``).
        size: output side; the shorter side is resized to it, then centre-cropped.
        class_index: folder name → class index; default the folder's position in sorted order.
        limit_per_class: read at most this many images of each class (sorted file names).
    """
    folder = Path(root)
    if not folder.is_dir():
        raise DataError(f"ImageNet folder {folder} does not exist; pass the tree's top folder "
                        f"(<root>/<wnid>/<image>.JPEG)")
    if not isinstance(size, int) or size < 1:
        raise DataError(f"size must be a positive integer, got {size!r}")
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"{folder} has no class subfolders; expected {folder}/<wnid>/<image>.JPEG")
    if class_index is not None:
        unknown = [p.name for p in class_dirs if p.name not in class_index]
        if unknown:
            raise DataError(f"{folder}: class folders {unknown[:3]} are not in the class index")
    pixels: list[np.ndarray] = []
    labels: list[int] = []
    for position, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGENET_SUFFIXES)
        for path in files[:limit_per_class]:
            pixels.append(read_centre_crop(path, size))
            labels.append(position if class_index is None else int(class_index[class_dir.name]))
    if not pixels:
        raise DataError(f"{folder} holds no {'/'.join(IMAGENET_SUFFIXES)} images in its "
                        "subfolders")
    return LabelledImages(to_unit_nchw(np.stack(pixels)), np.asarray(labels, dtype=np.int64),
                          tuple(p.name for p in class_dirs))


def read_centre_crop(path: Path, size: int) -> np.ndarray:
    """One image as uint8 (size, size, 3) RGB: shorter side to ``size``, centre crop."""
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(f"cannot read image {path}: {error}; remove or replace it") from error
    scale = size / min(image.size)
    width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    left, top = (width - size) // 2, (height - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)
