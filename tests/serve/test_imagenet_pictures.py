"""Pictures for the 3×224×224 imagenet model: 224² decoded exactly, other sizes refused."""

import io

import numpy as np
import pytest
from PIL import Image

from matt.data.foolbox_samples import sample_files
from matt.errors import InputError
from matt.serve.options import DEFAULT_MAX_PICTURE_BYTES, DEFAULT_MAX_PICTURE_PIXELS
from matt.serve.pictures import decode_picture, decode_pictures

SHAPE = (3, 224, 224)
LIMITS = {"max_bytes": DEFAULT_MAX_PICTURE_BYTES, "max_pixels": DEFAULT_MAX_PICTURE_PIXELS}


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_a_real_imagenet_picture_at_224_is_decoded_exactly():
    _, _, path = sample_files("imagenet")[0]
    with Image.open(path) as opened:
        resized = opened.convert("RGB").resize((224, 224), Image.Resampling.BICUBIC)
    body = png(resized)
    assert len(body) < DEFAULT_MAX_PICTURE_BYTES  # a 224² photo fits the default limit
    decoded = decode_pictures([body, body], SHAPE, **LIMITS)
    assert decoded.shape == (2, *SHAPE) and decoded.dtype == np.float32
    np.testing.assert_allclose(decoded[0], np.asarray(resized).transpose(2, 0, 1) / 255.0,
                               atol=1e-7)


def test_the_original_sizes_are_refused_not_resized():
    for _, _, path in sample_files("imagenet")[:1] + sample_files("imagenet")[10:11]:
        with Image.open(path) as opened:
            width, height = opened.size
        body = path.read_bytes()  # the wheel's own file, as a client would send it
        with pytest.raises(InputError, match=f"{width}×{height}.*224×224; resize it first"):
            decode_picture(body, SHAPE, **LIMITS)
