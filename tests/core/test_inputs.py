"""The Python API's door: float32/float64/uint8, one CHW image, torch tensors; nothing is cast
into range."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from matt.core import as_image_batch, check_image_batch
from matt.errors import InputError

SHAPE = (3, 4, 5)
IMAGES = np.random.default_rng(0).random((2, *SHAPE), dtype=np.float32)


def test_float32_passes_unchanged():
    batch, single = as_image_batch(IMAGES, SHAPE)
    assert not single and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, IMAGES)


def test_float64_in_range_becomes_float32():
    batch, _ = as_image_batch(IMAGES.astype(np.float64), SHAPE)
    assert batch.dtype == np.float32
    np.testing.assert_array_equal(batch, IMAGES)


@pytest.mark.parametrize("value", [1.0 + 1e-12, -1e-300, 2.0])
def test_float64_out_of_range_is_refused_before_the_cast(value):
    images = IMAGES.astype(np.float64)
    images[0, 0, 0, 0] = value
    assert np.float32(value) in (0.0, 1.0, 2.0)  # the cast alone would have hidden most
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        as_image_batch(images, SHAPE)


def test_uint8_is_divided_by_255():
    pixels = np.array([0, 1, 128, 255], np.uint8).repeat(15)[:60].reshape(1, *SHAPE)
    batch, _ = as_image_batch(pixels, SHAPE)
    assert batch.dtype == np.float32 and batch.max() == 1.0 and batch.min() == 0.0
    np.testing.assert_allclose(batch, pixels / 255.0, rtol=1e-6)


def test_one_chw_image_is_a_batch_of_one():
    batch, single = as_image_batch(IMAGES[1], SHAPE)
    assert single and batch.shape == (1, *SHAPE)
    np.testing.assert_array_equal(batch[0], IMAGES[1])


@pytest.mark.parametrize(("images", "message"), [
    (IMAGES.astype(np.int32), "float32 or float64 in \\[0, 1\\], or uint8 in 0..255, got int32"),
    (IMAGES.astype(np.float16), "got float16"),
    (IMAGES.tolist(), "numpy array or a torch tensor"),
    (IMAGES[0, 0], "NCHW"),
    (IMAGES[:, :2], "channels 3"),
    (IMAGES.astype(np.float64)[:0], "empty"),
    (np.full((1, *SHAPE), np.nan), "NaN"),
])
def test_what_is_refused(images, message):
    with pytest.raises(InputError, match=message):
        as_image_batch(images, SHAPE)


def test_torch_tensors_are_converted():
    torch = pytest.importorskip("torch")
    tensor = torch.from_numpy(IMAGES.astype(np.float64)).requires_grad_(True)
    batch, single = as_image_batch(tensor, SHAPE)
    assert not single and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, IMAGES)
    pixels = torch.full((3, 4, 5), 255, dtype=torch.uint8)
    batch, single = as_image_batch(pixels, SHAPE)
    assert single and float(batch.min()) == 1.0
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        as_image_batch(torch.from_numpy(IMAGES) * 2, SHAPE)
    with pytest.raises(InputError, match=r"tensor of torch\.int64"):
        as_image_batch(torch.zeros((1, *SHAPE), dtype=torch.int64), SHAPE)


def test_the_wire_check_stays_strict():
    """The server's check (float32 NCHW only) is not loosened by the API's door."""
    with pytest.raises(InputError, match="float32"):
        check_image_batch(IMAGES.astype(np.float64))
    with pytest.raises(InputError, match="NCHW"):
        check_image_batch(IMAGES[0])


EDGES = st.sampled_from([-1e-300, -0.0, 0.0, 5e-324, 1.0 - 1e-17, 1.0, 1.0 + 1e-12, 1.5])


@given(arrays(np.float64, (1, 1, 2, 2), elements=st.floats(0.0, 1.0) | EDGES))
def test_float64_is_refused_or_kept_exactly_in_range(images):
    """Whatever float64 comes in, what comes out is either refused or in [0, 1] and within
    float32 rounding of the input: nothing out of range is ever cast into it."""
    in_range = bool((images >= 0).all() and (images <= 1).all())
    if not in_range:
        with pytest.raises(InputError):
            as_image_batch(images, (1, 2, 2))
        return
    batch, _ = as_image_batch(images, (1, 2, 2))
    assert batch.min() >= 0.0 and batch.max() <= 1.0
    np.testing.assert_allclose(batch, images, atol=1e-7)
