"""TensorRT optimization profiles: computed without TensorRT, checked against the tiling."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matt.core import PatchPlan
from matt.errors import SpecError
from matt.export.engine_shapes import ShapeRange, classifier_shape_range, purifier_shape_range


@given(side=st.integers(4, 64), patch=st.integers(1, 64), halo=st.integers(0, 12),
       pool=st.integers(1, 16), opt=st.integers(1, 64), extra=st.integers(0, 64))
def test_purifier_profile_covers_every_window_batch_the_runtime_sends(side, patch, halo, pool,
                                                                      opt, extra):
    shapes = purifier_shape_range((3, side, side), patch, halo, pool, opt_images=opt,
                                  max_images=opt + extra)
    plan = PatchPlan.for_patch(side, side, patch, halo)
    window = plan.window_shape
    most = (opt + extra) * plan.patches_per_image
    for batch in (1, shapes.opt[0], most):
        assert shapes.covers((batch, 3, *window))
    assert not shapes.covers((most + 1, 3, *window))
    assert shapes.opt[2:] == window
    # a smaller patch or halo at serving time, or the whole image with the halo, also fits
    assert shapes.covers((1, 3, 1, 1))
    assert shapes.covers((1, 3, side + 2 * halo, side + 2 * halo))
    assert not shapes.covers((1, 3, side + 2 * halo + 1, side))
    assert not shapes.covers((1, 1, *window))


def test_opt_batch_is_one_engines_expected_share():
    shapes = purifier_shape_range((3, 32, 32), 8, 6, 12, opt_images=16, max_images=64)
    assert shapes.opt == (22, 3, 20, 20)  # ceil(16 images × 16 windows / 12 engines)
    assert shapes.max == (64 * 16, 3, 44, 44)
    assert shapes.min == (1, 3, 1, 1)


def test_classifier_profile_is_whole_images():
    shapes = classifier_shape_range((1, 28, 28), opt_images=8, max_images=32)
    assert shapes.to_dict() == {"input": "images", "min": [1, 1, 28, 28],
                                "opt": [8, 1, 28, 28], "max": [32, 1, 28, 28]}


def test_inconsistent_ranges_are_refused():
    with pytest.raises(SpecError, match="min <= opt <= max"):
        ShapeRange("images", (1, 3, 8, 8), (4, 3, 8, 8), (2, 3, 8, 8))
    with pytest.raises(SpecError, match="rank"):
        ShapeRange("images", (1, 3, 8), (1, 3, 8, 8), (1, 3, 8, 8))
    with pytest.raises(SpecError, match="pool size"):
        purifier_shape_range((3, 32, 32), 8, 6, 0, opt_images=1, max_images=1)
