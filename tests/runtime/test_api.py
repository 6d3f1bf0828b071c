"""The Python API takes what ML users hold; the undefended path says what it is."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from matt.runtime import Pipeline
from tests.runtime.conftest import random_images


@pytest.fixture(scope="module")
def pipe(rgb_bundle):
    with Pipeline.load(rgb_bundle[1], backend="onnxruntime", seed=0) as loaded:
        yield loaded


IMAGES = random_images((3, 3, 32, 32), seed=7)


def test_float64_gives_the_float32_answer(pipe):
    expected = pipe.with_seed(1).predict(IMAGES)
    np.testing.assert_array_equal(pipe.with_seed(1).predict(IMAGES.astype(np.float64)), expected)


def test_uint8_images_are_pixels_over_255(pipe):
    pixels = np.round(IMAGES * 255).astype(np.uint8)
    as_float = pixels.astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(pipe.with_seed(2).purify(pixels),
                                  pipe.with_seed(2).purify(as_float))


def test_one_chw_image_gives_one_answer(pipe):
    probabilities = pipe.with_seed(3).predict(IMAGES[0])
    assert probabilities.shape == (10,)
    np.testing.assert_array_equal(probabilities, pipe.with_seed(3).predict(IMAGES[:1])[0])
    assert pipe.with_seed(3).purify(IMAGES[0]).shape == IMAGES[0].shape
    assert pipe.classify_undefended(IMAGES[0]).shape == (10,)


def test_torch_tensors_are_taken(pipe):
    torch = pytest.importorskip("torch")
    tensor = torch.from_numpy(IMAGES)
    np.testing.assert_array_equal(pipe.with_seed(4).predict(tensor),
                                  pipe.with_seed(4).predict(IMAGES))


def test_classify_is_a_deprecated_alias_of_the_undefended_path(pipe):
    with pytest.warns(DeprecationWarning, match="classify_undefended"):
        old = pipe.classify(IMAGES)
    np.testing.assert_array_equal(old, pipe.classify_undefended(IMAGES))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe.classify_undefended(IMAGES)
        pipe.predict(IMAGES)
