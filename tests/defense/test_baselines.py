import pytest
import torch

from matt.defense import (
    BitDepth,
    DiscoDeterministic,
    DiscoEnsembleDefense,
    GaussianNoise,
    Jpeg,
    MedianSmoothing,
    NoDefense,
    RandomPatchPurifier,
)
from matt.errors import InputError, SpecError
from tests.conftest import make_pool


def _defenses(channels: int):
    pool = make_pool(3, channels=channels)
    radius = max(p.spec.receptive_radius for p in pool)
    return [
        NoDefense(), MedianSmoothing(3), GaussianNoise(0.041), BitDepth(5), Jpeg(75),
        DiscoDeterministic(pool[0], radius), DiscoEnsembleDefense(pool, radius),
        RandomPatchPurifier(pool, patch=8, halo=radius),
    ]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("index", range(8))
def test_shape_dtype_range_and_determinism(channels, index):
    defense = _defenses(channels)[index]
    images = torch.rand(3, channels, 24, 20, generator=torch.Generator().manual_seed(0))
    first, second = defense(images), defense(images)
    assert first.shape == images.shape and first.dtype == torch.float32
    assert first.min() >= 0 and first.max() <= 1
    if defense.randomized:
        assert not torch.equal(first, second), defense.name
    else:
        assert torch.equal(first, second), defense.name


def test_baselines_change_the_image():
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    for defense in [MedianSmoothing(), GaussianNoise(), BitDepth(3), Jpeg(50)]:
        assert (defense(images) - images).abs().max() > 1e-3, defense.name


def test_noise_has_the_stated_sigma():
    images = torch.full((8, 3, 32, 32), 0.5)
    noise = GaussianNoise(0.041, seed=0)(images) - images
    assert abs(noise.std().item() - 0.041) < 0.002


def test_seeded_random_defenses_repeat():
    images = torch.rand(2, 3, 16, 16)
    pool = make_pool(3)
    for build in (lambda: GaussianNoise(seed=5), lambda: DiscoEnsembleDefense(pool, 8, seed=5)):
        assert torch.equal(build()(images), build()(images))


def test_median_of_a_constant_image_with_one_outlier():
    images = torch.full((1, 1, 5, 5), 0.5)
    images[0, 0, 2, 2] = 1.0
    assert torch.equal(MedianSmoothing(3)(images), torch.full((1, 1, 5, 5), 0.5))


@pytest.mark.parametrize(
    "bad", [torch.rand(3, 8, 8), torch.rand(1, 3, 8, 8).double(), torch.full((1, 3, 4, 4), 2.0),
            torch.full((1, 3, 4, 4), float("nan")), torch.rand(0, 3, 4, 4)],
)
def test_bad_images_are_refused(bad):
    with pytest.raises(InputError):
        NoDefense()(bad)


def test_bad_settings_are_refused():
    for build in (lambda: MedianSmoothing(2), lambda: GaussianNoise(0), lambda: BitDepth(9),
                  lambda: Jpeg(0), lambda: RandomPatchPurifier([], 8, 0)):
        with pytest.raises(SpecError):
            build()
