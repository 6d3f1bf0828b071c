"""Encoded pictures are decoded exactly, and anything hostile is refused before decoding."""

import io

import numpy as np
import pytest
from PIL import Image

from matt.errors import InputError
from matt.serve.pictures import decode_picture, decode_pictures
from tests.serve.conftest import png_claiming

LIMITS = {"max_bytes": 1 << 16, "max_pixels": 1 << 16}


def encode(pixels: np.ndarray, fmt: str = "PNG", **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **save)
    return buffer.getvalue()


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def test_png_round_trip_is_exact(rgb):
    decoded = decode_picture(encode(rgb), (3, 32, 32), **LIMITS)
    assert decoded.dtype == np.float32 and decoded.shape == (3, 32, 32)
    np.testing.assert_allclose(decoded, rgb.transpose(2, 0, 1) / 255.0, atol=1e-7)


def test_jpeg_is_accepted_and_close(rgb):
    smooth = np.full((32, 32, 3), 120, dtype=np.uint8)
    decoded = decode_picture(encode(smooth, "JPEG", quality=95), (3, 32, 32), **LIMITS)
    assert np.abs(decoded - 120 / 255).max() < 3 / 255


def test_colour_picture_for_a_grey_model(rgb):
    decoded = decode_picture(encode(rgb), (1, 32, 32), **LIMITS)
    assert decoded.shape == (1, 32, 32)
    assert decoded.min() >= 0.0 and decoded.max() <= 1.0


def test_batch_names_the_bad_picture(rgb):
    with pytest.raises(InputError, match=r"images_png\[1\]: not a PNG or JPEG"):
        decode_pictures([encode(rgb), b"hello"], (3, 32, 32), **LIMITS)


@pytest.mark.parametrize(("data", "needle"), [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not a PNG or JPEG|cannot decode"),
    (png_claiming(100_000, 100_000), "decompression-bomb"),
    (png_claiming(300, 300), "decompression-bomb"),
    (png_claiming(32, 32), "cannot decode"),
    (b"x" * (LIMITS["max_bytes"] + 1), "over the limit"),
])
def test_hostile_bytes_are_refused(data, needle):
    with pytest.raises(InputError, match=needle):
        decode_picture(data, (3, 32, 32), **LIMITS)


def test_other_formats_and_sizes_are_refused(rgb):
    with pytest.raises(InputError, match="not a PNG or JPEG"):
        decode_picture(encode(rgb, "GIF"), (3, 32, 32), **LIMITS)
    with pytest.raises(InputError, match=r"64×48.*32×32"):
        decode_picture(encode(np.zeros((48, 64, 3), np.uint8)), (3, 32, 32), **LIMITS)


def test_truncated_png_is_refused(rgb):
    whole = encode(rgb)
    with pytest.raises(InputError, match="cannot decode"):
        decode_picture(whole[: len(whole) // 2], (3, 32, 32), **LIMITS)
