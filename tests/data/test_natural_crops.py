"""Natural RGB crops from the photographs shipped in installed wheels."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from matt.data.natural_crops import natural_photos, sample_natural_crops
from matt.errors import DataError

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("skimage", "sklearn", "foolbox")),
    reason="natural crops need scikit-image, scikit-learn and foolbox: pip install 'matt[eval]'",
)


def test_shape_range_and_content():
    crops = sample_natural_crops(64, size=32, seed=0)
    assert crops.shape == (64, 3, 32, 32) and crops.dtype == np.float32
    assert crops.min() >= 0.0 and crops.max() <= 1.0
    # Natural crops vary: most have visible contrast, and they are not all alike.
    assert np.median(crops.reshape(64, -1).std(axis=1)) > 0.03
    assert len({crop.tobytes() for crop in crops}) == 64


def test_seed_reproduces_and_no_seed_varies():
    first = sample_natural_crops(16, seed=7)
    np.testing.assert_array_equal(first, sample_natural_crops(16, seed=7))
    assert not np.array_equal(first, sample_natural_crops(16, seed=8))
    assert not np.array_equal(sample_natural_crops(16), sample_natural_crops(16))


def test_scale_one_crop_is_an_exact_photo_window():
    crop = (sample_natural_crops(1, size=8, scales=(1,), seed=3)[0] * 255).round()
    crop = crop.astype(np.uint8).transpose(1, 2, 0)
    matches = [
        (name, top, left)
        for name, photo in natural_photos()
        for top, left in zip(*np.nonzero((photo == crop[0, 0]).all(axis=2)), strict=True)
        if np.array_equal(photo[top: top + 8, left: left + 8], crop)
    ]
    assert matches


def test_larger_scales_are_smoother():
    # Area-averaging a larger window removes fine texture: neighbour differences shrink.
    def roughness(crops):
        return np.abs(np.diff(crops, axis=3)).mean()

    fine = sample_natural_crops(200, scales=(1,), seed=0)
    coarse = sample_natural_crops(200, scales=(8,), seed=0)
    assert roughness(coarse) > roughness(fine)


def test_photos_are_rgb_and_from_the_wheels_and_debian():
    photos = natural_photos()
    assert all(photo.ndim == 3 and photo.shape[2] == 3 for _, photo in photos)
    sources = {name.split(".")[0] for name, _ in photos}
    # Debian's wallpaper photographs join where their packages are installed
    assert sources - {"debian"} == {"skimage", "sklearn", "foolbox"}
    assert all(min(photo.shape[:2]) <= 1200 for name, photo in photos if "debian" in name)


def test_held_out_photos_are_never_training_photos():
    from matt.data.natural_crops import photo_split

    train, held = photo_split()
    assert not set(train) & set(held)
    assert len(held) == len(natural_photos()) // 5
    with pytest.raises(DataError, match="held_out_every"):
        photo_split(1)


def test_photo_names_restrict_the_source():
    crop = (sample_natural_crops(1, size=8, scales=(1,), seed=5,
                                 photo_names=["skimage.astronaut"])[0] * 255).round()
    astronaut = dict(natural_photos())["skimage.astronaut"]
    windows = np.lib.stride_tricks.sliding_window_view(astronaut, (8, 8, 3))[:, :, 0]
    assert (windows == crop.astype(np.uint8).transpose(1, 2, 0)).all(axis=(2, 3, 4)).any()
    with pytest.raises(DataError, match="unknown photo names"):
        sample_natural_crops(1, photo_names=["skimage.lena"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"count": -1}, "count"), ({"count": 2, "size": 0}, "size"),
     ({"count": 2, "scales": ()}, "scales"), ({"count": 2, "size": 32, "scales": (100,)},
                                               "no photo is large enough")],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(DataError, match=message):
        sample_natural_crops(**kwargs)
