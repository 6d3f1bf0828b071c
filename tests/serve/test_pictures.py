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


def saved(picture: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, fmt)
    return buffer.getvalue()


def test_16_bit_grey_keeps_its_values():
    """Pillow's convert() clips 16-bit grey at 255 (all white); the decoder scales it."""
    values = np.array([[0, 255, 256, 32768, 65535] * 4] * 20, dtype=np.uint16)
    data = saved(Image.fromarray(values))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    grey = decode_picture(data, (1, 20, 20), **LIMITS)
    np.testing.assert_allclose(grey[0], values / 65535.0, atol=1e-7)
    assert len(np.unique(grey)) == 5
    rgb = decode_picture(data, (3, 20, 20), **LIMITS)
    np.testing.assert_array_equal(rgb, np.repeat(grey, 3, axis=0))


@pytest.mark.parametrize("make", [
    lambda rgb: Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=64),
    lambda rgb: Image.fromarray(rgb).convert("L"),
    lambda rgb: Image.fromarray(rgb).convert("1"),
    lambda rgb: Image.fromarray(rgb).convert("LA"),
    lambda rgb: Image.fromarray(rgb).convert("RGBA"),
], ids=["palette", "grey", "bilevel", "grey+opaque-alpha", "rgb+opaque-alpha"])
@pytest.mark.parametrize("channels", [1, 3])
def test_modes_decode_as_pillow_converts_them(rgb, make, channels):
    picture = make(rgb)
    data = saved(picture)
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("L" if channels == 1 else "RGB"),
                          dtype=np.float32) / 255.0
    decoded = decode_picture(data, (channels, 32, 32), **LIMITS)
    np.testing.assert_allclose(decoded, expected.reshape(32, 32, channels).transpose(2, 0, 1),
                               atol=1e-7)


def test_cmyk_jpeg_decodes_as_pillow_converts_it(rgb):
    data = saved(Image.fromarray(rgb).convert("CMYK"), "JPEG")
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32) / 255.0
    np.testing.assert_allclose(decode_picture(data, (3, 32, 32), **LIMITS),
                               expected.transpose(2, 0, 1), atol=1e-7)


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_transparent_pixels_are_refused_naming_the_mode(rgb, mode):
    picture = Image.fromarray(rgb).convert(mode)
    alpha = np.full((32, 32), 255, np.uint8)
    alpha[0, 0] = 0
    picture.putalpha(Image.fromarray(alpha))
    with pytest.raises(InputError, match=f"mode {mode} has transparent pixels"):
        decode_picture(saved(picture), (3, 32, 32), **LIMITS)


def test_palette_with_transparency_is_refused(rgb):
    picture = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    picture.info["transparency"] = 0
    with pytest.raises(InputError, match="P with transparency"):
        decode_picture(saved(picture), (3, 32, 32), **LIMITS)
