"""Bad inputs and arguments get one clear error naming the problem."""

from __future__ import annotations

import numpy as np
import pytest

from matt.errors import BackendUnavailable, BundleError, InputError
from matt.runtime import Pipeline
from tests.runtime.conftest import random_images


@pytest.fixture(scope="module")
def pipe(rgb_bundle):
    with Pipeline.load(rgb_bundle[1], backend="onnxruntime", seed=0) as loaded:
        yield loaded


def _with(images: np.ndarray, index: tuple, value: float) -> np.ndarray:
    images = images.copy()
    images[index] = value
    return images


GOOD = random_images((2, 3, 32, 32))
BAD_BATCHES = [
    (_with(GOOD.astype(np.float64), (0, 0, 1, 1), 1.0 + 1e-12), r"\[0, 1\]"),
    (_with(GOOD.astype(np.float64), (0, 0, 1, 1), -1e-300), r"\[0, 1\]"),
    (GOOD[0, 0], "NCHW"),
    (GOOD[0, :1], "channels 3"),
    (GOOD[:0], "empty"),
    (random_images((2, 1, 32, 32)), "channels 3"),
    (random_images((2, 3, 28, 32)), "height 32"),
    (_with(GOOD, (0, 0, 0, 0), np.nan), "NaN"),
    (_with(GOOD, (1, 2, 3, 4), np.inf), "NaN or inf"),
    (_with(GOOD, (0, 0, 1, 1), 1.5), r"\[0, 1\]"),
    (_with(GOOD, (0, 0, 1, 1), -0.1), r"\[0, 1\]"),
    (GOOD.tolist(), "numpy array"),
    ((GOOD * 255).astype(np.int64), "float32 or float64 in \\[0, 1\\], or uint8"),
    (GOOD.astype(np.float16), "got float16"),
]


@pytest.mark.parametrize(("images", "message"), BAD_BATCHES)
@pytest.mark.parametrize("call", ["purify", "predict", "classify_undefended"])
def test_bad_batches_are_refused(pipe, call, images, message):
    with pytest.raises(InputError, match=message):
        getattr(pipe, call)(images)


def test_a_non_contiguous_batch_is_accepted(pipe):
    strided = np.asfortranarray(GOOD)
    np.testing.assert_array_equal(pipe.with_seed(1).purify(strided),
                                  pipe.with_seed(1).purify(GOOD))


@pytest.mark.parametrize(("arguments", "message"), [
    ({"pool": 0}, "choose 1 to 3"),
    ({"pool": 4}, "choose 1 to 3"),
    ({"pool": [0, 3]}, "not one of the bundle's purifiers 0..2"),
    ({"pool": [1, 1]}, "distinct"),
    ({"pool": []}, "empty"),
    ({"pool": True}, "pool must be"),
    ({"patch": 0}, "patch must be a positive"),
    ({"halo": -1}, "halo must be"),
    ({"precision": "fp8"}, "precision must be one of"),
    ({"precision": "fp16"}, "runs fp32, int8, not fp16"),
    ({"device": "gpu"}, "device must be"),
    ({"backend": "tflite"}, "unknown backend 'tflite'"),
])
def test_bad_arguments_are_refused(rgb_bundle, arguments, message):
    with pytest.raises(InputError, match=message):
        Pipeline.load(rgb_bundle[1], **{"backend": "onnxruntime", **arguments})


def test_int8_without_a_quantized_bundle_is_refused(rgb_bundle):
    with pytest.raises(BundleError, match=r"no int8 variant for purifier.*p0.*quantize"):
        Pipeline.load(rgb_bundle[1], backend="onnxruntime", precision="int8")


def test_a_folder_that_is_not_a_bundle_is_refused(tmp_path):
    with pytest.raises(BundleError, match="not a bundle"):
        Pipeline.load(tmp_path)


def test_torch_backend_without_the_weights_file_says_what_to_do(rgb_bundle, tmp_path):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(rgb_bundle[1].root, copy)
    with pytest.raises(BundleError, match=r"Pipeline.from_weights"):
        Pipeline.load(copy, backend="torch")


def test_a_closed_pipeline_refuses_calls(rgb_bundle):
    pipe = Pipeline.load(rgb_bundle[1], backend="onnxruntime")
    view = pipe.with_seed(3)
    view.close()
    assert view.purify(GOOD).shape == GOOD.shape  # closing a view leaves the engines open
    pipe.close()
    pipe.close()
    with pytest.raises(BackendUnavailable, match="closed"):
        pipe.predict(GOOD)
    with pytest.raises(BackendUnavailable, match="closed"):
        view.predict(GOOD)
