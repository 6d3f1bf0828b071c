import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from matt.core import PatchPlan, extract_windows, stitch_windows
from matt.errors import SpecError


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 40), width=st.integers(1, 40), patch=st.integers(1, 48),
    halo=st.integers(0, 6), batch=st.integers(1, 3), channels=st.sampled_from([1, 3]),
)
def test_identity_round_trip_numpy_and_torch(height, width, patch, halo, batch, channels):
    """Extract then stitch without purifying gives the image back, for any size and halo."""
    plan = PatchPlan.for_patch(height, width, patch, halo)
    images = np.random.default_rng(0).random((batch, channels, height, width), dtype=np.float32)
    windows = extract_windows(images, plan)
    assert windows.shape == (batch * plan.patches_per_image, channels, *plan.window_shape)
    assert windows[:, 0].size == batch * plan.pixels_processed
    np.testing.assert_array_equal(stitch_windows(windows, plan, batch), images)
    tensor_windows = extract_windows(torch.from_numpy(images), plan)
    np.testing.assert_array_equal(tensor_windows.numpy(), windows)
    np.testing.assert_array_equal(stitch_windows(tensor_windows, plan, batch).numpy(), images)


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 64), patch=st.integers(1, 64))
def test_every_pixel_owned_exactly_once(length, patch):
    plan = PatchPlan.for_patch(length, length, patch, 0)
    counts = np.zeros((length, length), dtype=int)
    for rows, cols, _, _ in plan.owned_regions():
        counts[rows, cols] += 1
    assert (counts == 1).all()


def test_windows_carry_edge_replicated_halo():
    images = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4) / 16
    plan = PatchPlan.for_patch(4, 4, 2, 1)
    windows = extract_windows(images, plan)
    np.testing.assert_array_equal(windows[0, 0, 0], [0, 0, 1 / 16, 2 / 16])
    np.testing.assert_array_equal(windows[0, 0, :, 0], [0, 0, 4 / 16, 8 / 16])


def test_grid_plan_and_clamping():
    assert PatchPlan.for_grid(32, 32, 4, 2).patch_h == 8
    assert PatchPlan.for_grid(28, 28, 3, 0).patches_per_image == 9
    assert PatchPlan.for_patch(10, 12, 64, 0).window_shape == (10, 12)


@pytest.mark.parametrize("bad", [dict(patch=0), dict(halo=-1)])
def test_bad_plans_are_refused(bad):
    with pytest.raises(SpecError):
        PatchPlan.for_patch(8, 8, bad.get("patch", 4), bad.get("halo", 0))


def test_wrong_image_size_is_refused():
    plan = PatchPlan.for_patch(8, 8, 4, 1)
    with pytest.raises(SpecError, match="8x8"):
        extract_windows(np.zeros((1, 3, 9, 8), np.float32), plan)
