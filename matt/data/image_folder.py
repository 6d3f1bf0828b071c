"""An ImageFolder tree: one subfolder per class, holding PNG or JPEG images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from matt.data.types import LabelledImages, to_unit_nchw
from matt.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_MODES = {1: "L", 3: "RGB"}


def load_image_folder(
    root: str | Path, size: int | None = None, channels: int = 3
) -> LabelledImages:
    """Read ``root/<class>/<image>`` into one batch; classes are the sorted subfolder names.

    Args:
        root: the tree's top folder.
        size: resize every image to ``size``×``size`` pixels (bicubic); without it all images
            must already share one size.
        channels: 3 (RGB) or 1 (grey); images are converted to it.
    """
    if channels not in _MODES:
        raise DataError(f"channels must be 1 or 3, not {channels!r}")
    folder = Path(root)
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist; pass the tree's top folder")
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"{folder} has no class subfolders; expected {folder}/<class>/<image>.png")
    pixels: list[np.ndarray] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for path in files:
            pixels.append(read_image(path, size, _MODES[channels]))
            labels.append(label)
    if not pixels:
        raise DataError(f"{folder} holds no {'/'.join(IMAGE_SUFFIXES)} images in its subfolders")
    shapes = {p.shape for p in pixels}
    if len(shapes) > 1:
        raise DataError(f"images under {folder} differ in size {sorted(shapes)[:3]}; pass a size")
    return LabelledImages(
        to_unit_nchw(np.stack(pixels)), np.asarray(labels, dtype=np.int64),
        tuple(p.name for p in class_dirs),
    )


def read_image(path: Path, size: int | None, mode: str) -> np.ndarray:
    """One image file as uint8 HWC (HW for grey), converted to ``mode``, optionally resized."""
    try:
        with Image.open(path) as image:
            converted = image.convert(mode)
            if size is not None:
                converted = converted.resize((size, size), Image.Resampling.BICUBIC)
            return np.asarray(converted, dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(f"cannot read image {path}: {error}; remove or replace it") from error
