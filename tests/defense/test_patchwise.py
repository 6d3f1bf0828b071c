import numpy as np
import pytest
import torch
from scipy import stats

from matt.core import PatchPlan
from matt.defense import RandomPatchPurifier
from matt.models import purify_whole
from tests.conftest import make_pool


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(
    ("batch", "height", "width", "patch"),
    [(1, 32, 32, 8), (3, 28, 28, 7), (2, 17, 23, 5), (4, 32, 32, 32), (1, 20, 20, 6)],
)
def test_patchwise_with_one_purifier_equals_whole_image(channels, batch, height, width, patch):
    """Halo >= receptive radius: patch-wise purification is whole-image purification."""
    for purifier in make_pool(2, channels=channels):
        radius = purifier.spec.receptive_radius
        generator = torch.Generator().manual_seed(1)
        images = torch.rand(batch, channels, height, width, generator=generator)
        defense = RandomPatchPurifier([purifier], patch=patch, halo=radius)
        with torch.no_grad():
            whole = purify_whole(purifier, images, radius)
        assert (defense(images) - whole).abs().max() <= 1e-5


def test_small_halo_is_an_approximation():
    purifier = make_pool(1)[0]
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = purify_whole(purifier, images, purifier.spec.receptive_radius)
    errors = [(RandomPatchPurifier([purifier], 8, halo)(images) - whole).abs().max()
              for halo in (0, purifier.spec.receptive_radius)]
    assert errors[0] > 1e-4 > errors[1]


def _assignments(defense: RandomPatchPurifier, images: torch.Tensor) -> np.ndarray:
    """Which purifier each patch used, read back from constant purifiers."""
    out = defense(images)
    plan = defense.plan_for(*images.shape[2:])
    tops = [r.start for r, _, _, _ in plan.owned_regions()]
    lefts = [c.start for _, c, _, _ in plan.owned_regions()]
    return np.rint(out[:, 0, tops, lefts].numpy() * 20).astype(int)


class Constant(torch.nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, self.value)


def test_assignment_is_uniform_fresh_and_seedable():
    pool = [Constant(k / 20) for k in range(12)]
    images = torch.rand(64, 3, 32, 32)
    unseeded = RandomPatchPurifier(pool, patch=4, halo=0)
    first, second = _assignments(unseeded, images), _assignments(unseeded, images)
    assert first.shape == (64, 64)
    assert stats.chisquare(np.bincount(first.ravel(), minlength=12)).pvalue > 1e-4
    assert not np.array_equal(first, second)
    seeded = [_assignments(RandomPatchPurifier(pool, 4, 0, seed=11), images) for _ in range(2)]
    assert np.array_equal(*seeded)


@pytest.mark.parametrize("batch", [1, 16])
def test_work_per_query_does_not_grow_with_pool_size(batch):
    """Every window is purified once: the pixels processed are the same for K = 1 and K = 12."""
    images = torch.rand(batch, 3, 32, 32)
    processed = {}
    for size in (1, 12):
        pool = make_pool(size)
        seen: list[int] = []
        for purifier in pool:
            purifier.register_forward_hook(
                lambda _m, inputs, _o, seen=seen: seen.append(inputs[0][:, 0].numel())
            )
        RandomPatchPurifier(pool, patch=8, halo=3)(images)
        processed[size] = sum(seen)
    plan = PatchPlan.for_patch(32, 32, 8, 3)
    expected = batch * plan.patches_per_image * plan.window_shape[0] * plan.window_shape[1]
    assert processed[1] == processed[12] == expected
