"""Encoded pictures (PNG, JPEG) from clients → an image batch in [0, 1], guarded against bombs.

A picture is untrusted bytes handed to an image parser. Before any pixel is decoded, its
byte size, format and declared width × height are checked, and Pillow's own
decompression-bomb limit is set, so a small file that claims a huge image is refused cheaply.
Decoding turns Pillow's warnings into errors, which touches the process's warning filters:
call it from one thread at a time (a Triton Python-backend instance runs one batch at a time).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import numpy as np
from PIL import Image

from matt.errors import InputError

FORMATS = ("PNG", "JPEG")
_MODES = {1: "L", 3: "RGB"}
# Modes Pillow decodes PNG and JPEG files to, and how each becomes 8-bit L or RGB: by Pillow's
# own conversion, except 16-bit grey, which Pillow's convert() clips at 255 (read as white).
_EIGHT_BIT = ("L", "RGB", "1", "P", "CMYK", "YCbCr")
_WITH_ALPHA = ("LA", "RGBA", "PA", "La", "RGBa")
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I")


def decode_picture(
    data: bytes, shape: tuple[int, int, int], *, max_bytes: int, max_pixels: int,
    where: str = "picture",
) -> np.ndarray:
    """One PNG or JPEG file → a float32 CHW array in [0, 1] of exactly ``shape``.

    Raises:
        InputError: too many bytes, not PNG or JPEG, over ``max_pixels``, another size than
            the model takes, or a file that fails to decode (truncated, corrupt).
    """
    channels, height, width = shape
    if channels not in _MODES:
        raise InputError(f"{where}: pictures can only feed 1- or 3-channel models")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError(f"{where}: expected the bytes of a PNG or JPEG file")
    if len(data) == 0:
        raise InputError(f"{where}: empty; send the bytes of a PNG or JPEG file")
    if len(data) > max_bytes:
        raise InputError(f"{where}: {len(data)} bytes is over the limit of {max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = _open(bytes(data), max_pixels, where)
            if picture.size != (width, height):
                got_width, got_height = picture.size
                raise InputError(f"{where}: picture is {got_width}×{got_height}, this model "
                                 f"takes {width}×{height}; resize it first")
            picture.load()
            pixels = _pixels(picture, channels, where)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{where}: declares more than {max_pixels} pixels "
                         "(decompression-bomb guard)") from None
    except Exception as exc:  # an untrusted file may make the parser raise anything
        raise InputError(f"{where}: cannot decode the picture ({_reason(exc)})") from None
    pixels = pixels.reshape(height, width, channels).transpose(2, 0, 1)
    return np.ascontiguousarray(pixels)


def _pixels(picture: Image.Image, channels: int, where: str) -> np.ndarray:
    """float32 HWC (or HW) in [0, 1] of a decoded picture, or an InputError naming its mode."""
    mode = picture.mode
    if mode in _SIXTEEN_BIT:
        grey = np.asarray(picture, dtype=np.float32) / np.float32(65535.0)
        if grey.max(initial=0.0) > 1.0:
            raise InputError(f"{where}: mode {mode} holds values over 16 bits")
        return grey if channels == 1 else np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in picture.info:
        picture, mode = picture.convert("RGBA"), "P with transparency"
    if picture.mode in _WITH_ALPHA:
        alpha = np.asarray(picture.getchannel("A"))
        if alpha.min(initial=255) < 255:
            raise InputError(f"{where}: mode {mode} has transparent pixels; flatten the "
                             "picture onto a background first")
    elif picture.mode not in _EIGHT_BIT:
        raise InputError(f"{where}: mode {mode} is not supported; send 8-bit or 16-bit grey, "
                         "RGB, palette or CMYK pictures")
    converted = picture.convert(_MODES[channels])
    return np.asarray(converted, dtype=np.float32) / np.float32(255.0)


def limit_pillow(max_pixels: int) -> None:
    """Set Pillow's process-wide decompression-bomb limit (it refuses twice this outright).

    Called once when a model instance starts; :func:`decode_picture` checks the limit itself
    as well, so it holds whatever the global says.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels


def _open(data: bytes, max_pixels: int, where: str) -> Image.Image:
    try:
        picture = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.UnidentifiedImageError:
        raise InputError(f"{where}: not a PNG or JPEG file") from None
    width, height = picture.size
    if width * height > max_pixels:
        raise InputError(f"{where}: declares {width}×{height} pixels, over the limit of "
                         f"{max_pixels} (decompression-bomb guard)")
    return picture


def _reason(exc: Exception) -> str:
    message = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def decode_pictures(
    files: Sequence[bytes], shape: tuple[int, int, int], *, max_bytes: int, max_pixels: int,
    name: str = "images_png",
) -> np.ndarray:
    """Several encoded pictures → a float32 NCHW batch; errors name the picture's index."""
    if len(files) == 0:
        raise InputError(f"{name}: the batch is empty")
    decoded = [decode_picture(data, shape, max_bytes=max_bytes, max_pixels=max_pixels,
                              where=f"{name}[{index}]") for index, data in enumerate(files)]
    return np.stack(decoded)
