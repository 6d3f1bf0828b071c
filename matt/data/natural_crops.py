"""Natural RGB crops at several scales, cut from real photographs available offline.

CIFAR-10 itself is not reachable offline; these crops stand in for "natural images" when
training and checking purifiers. Sources: scikit-image's colour photographs, scikit-learn's
two sample images, foolbox's twenty ImageNet samples, and the photographs (not the drawings)
of Debian's wallpaper packages ``mate-backgrounds``, ``lomiri-wallpapers-16.04``/``-20.04``,
``plasma-workspace-wallpapers`` (chosen by looking at each; missing packages are skipped).
Held-out sets are cut from other photographs than training sets (:func:`photo_split`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Collection
from pathlib import Path

import numpy as np
from PIL import Image

from matt.data.foolbox_samples import sample_files
from matt.data.image_folder import read_image
from matt.errors import DataError

SKIMAGE_PHOTOS = (
    "astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "hubble_deep_field",
)
DEFAULT_SCALES = (2, 4, 8, 12)
_MATE = "/usr/share/backgrounds/mate/nature"
_LOMIRI = "/usr/share/backgrounds"
_PLASMA = "/usr/share/wallpapers"
DEBIAN_PHOTOS = (
    *(f"{_MATE}/{name}.jpg" for name in (
        "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird",
        "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower")),
    *(f"{_LOMIRI}/{name}.jpg" for name in (
        "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Infinite-Sea_by_Aury88",
        "Kleiber_by_Lukas_Baubkus", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
        "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi", "free_by_Peter_Nerlich",
        "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
        "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
        "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi")),
    *(f"{_PLASMA}/{name}/contents/images/1280x1024.jpg" for name in (
        "BytheWater", "ColdRipple", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
        "OneStandsOut", "Path", "summer_1am")),
    f"{_PLASMA}/ColorfulCups/contents/images/2560x1600.jpg",
    f"{_PLASMA}/MilkyWay/contents/images/1080x1920.png",
    f"{_PLASMA}/Volna/contents/images/5120x2880.jpg",
)
# Large wallpapers are shrunk on load so the shorter side is at most this (crops at the
# largest default scale, 12 × 32 = 384 pixels, still fit several times).
_MAX_SHORT_SIDE = 1200


@functools.cache
def natural_photos() -> tuple[tuple[str, np.ndarray], ...]:
    """``(name, uint8 HWC RGB photo)`` for every source photograph, loaded once per process."""
    photos: list[tuple[str, np.ndarray]] = []
    try:
        import skimage.data
        from sklearn.datasets import load_sample_images
    except ImportError as error:
        raise DataError(f"natural crops need {error.name}; pip install 'matt[eval]'") from error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in SKIMAGE_PHOTOS:
            photo = getattr(skimage.data, name)()
            photos.append((f"skimage.{name}", photo[0] if isinstance(photo, tuple) else photo))
    sklearn_images = load_sample_images()
    for filename, photo in zip(sklearn_images.filenames, sklearn_images.images, strict=True):
        photos.append((f"sklearn.{filename.rsplit('/', 1)[-1]}", photo))
    for index, _, path in sample_files("imagenet"):
        photos.append((f"foolbox.imagenet_{index:02d}", read_image(path, None, "RGB")))
    for debian_path in DEBIAN_PHOTOS:
        if Path(debian_path).is_file():
            photos.append((f"debian.{_photo_name(debian_path)}", _shrunk(debian_path)))
    return tuple((name, np.ascontiguousarray(photo[:, :, :3])) for name, photo in photos)


def _photo_name(path: str) -> str:
    """A wallpaper's folder name (``.../wallpapers/Path/contents/...``), else the file stem."""
    parts = Path(path).parts
    return parts[4] if "wallpapers" in parts else Path(path).stem


def _shrunk(path: str) -> np.ndarray:
    with Image.open(path) as opened:
        photo = opened.convert("RGB")
    short = min(photo.size)
    if short > _MAX_SHORT_SIDE:
        scale = _MAX_SHORT_SIDE / short
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)),
                             Image.Resampling.BOX)
    return np.asarray(photo)


def photo_split(held_out_every: int = 5) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(training, held-out) photo names: every ``held_out_every``-th name in sorted order is
    held out, so held-out crops never share a photograph with training crops."""
    if not isinstance(held_out_every, int) or held_out_every < 2:
        raise DataError(f"held_out_every must be an integer >= 2, got {held_out_every!r}")
    names = sorted(name for name, _ in natural_photos())
    held = tuple(names[held_out_every - 1::held_out_every])
    return tuple(name for name in names if name not in held), held


def sample_natural_crops(
    count: int,
    size: int = 32,
    scales: tuple[int, ...] = DEFAULT_SCALES,
    seed: int | None = None,
    photo_names: Collection[str] | None = None,
) -> np.ndarray:
    """Random square crops resized to ``size``: (count, 3, size, size) float32 in [0, 1].

    Each crop picks a photo uniformly, then a scale among those that fit it, then a position;
    a crop of scale ``s`` covers ``s * size`` photo pixels per side and is area-averaged down,
    so larger scales hold whole objects, as CIFAR-10's downsampled photos do.

    Args:
        count: crops to draw.
        size: side of each returned crop, in pixels.
        scales: crop sides as multiples of ``size``.
        seed: fixes the draw for reproducible evaluation; ``None`` draws from OS entropy.
        photo_names: draw only from these photos (names as in :func:`natural_photos`, e.g.
            ``skimage.astronaut``), so training and held-out crops can come from disjoint
            photographs; ``None`` uses all.
    """
    if not isinstance(count, int) or count < 0:
        raise DataError(f"count must be an integer >= 0, got {count!r}")
    if not isinstance(size, int) or size < 1:
        raise DataError(f"size must be a positive integer, got {size!r}")
    if not scales or any(not isinstance(s, int) or s < 1 for s in scales):
        raise DataError(f"scales must be positive integers, got {scales!r}")
    available = dict(natural_photos())
    if photo_names is not None:
        unknown = sorted(set(photo_names) - set(available))
        if unknown or not photo_names:
            raise DataError(f"unknown photo names {unknown}; known: {sorted(available)}")
        available = {name: available[name] for name in photo_names}
    photos = [
        (photo, fitting)
        for photo in available.values()
        if (fitting := [s for s in scales if s * size <= min(photo.shape[:2])])
    ]
    if not photos:
        raise DataError(f"no photo is large enough for scales {scales} at size {size}")
    rng = np.random.default_rng(seed)
    crops = np.empty((count, size, size, 3), dtype=np.uint8)
    for i in range(count):
        photo, fitting = photos[rng.integers(len(photos))]
        side = size * fitting[rng.integers(len(fitting))]
        top = rng.integers(photo.shape[0] - side + 1)
        left = rng.integers(photo.shape[1] - side + 1)
        window = Image.fromarray(photo[top: top + side, left: left + side])
        crops[i] = np.asarray(window.resize((size, size), Image.Resampling.BOX))
    return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)
