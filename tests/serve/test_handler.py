"""The served model's logic over the real runtime Pipeline, without Triton."""

import numpy as np
import pytest

from matt.errors import InputError
from matt.runtime import Pipeline
from matt.serve.handler import ServedModel
from matt.serve.options import CLASSIFY, PURIFY, UNDEFENDED

LIMITS = {"max_picture_bytes": 1 << 20, "max_picture_pixels": 1 << 20}


@pytest.fixture(scope="module")
def pipeline(serve_bundle):
    with Pipeline.load(serve_bundle, backend="onnxruntime") as loaded:
        yield loaded


def served(pipeline, task, output="probs"):
    return ServedModel(pipeline, task, output, pipeline.manifest.input_shape, **LIMITS)


def test_batched_requests_are_split_back(pipeline):
    model = served(pipeline, UNDEFENDED)
    rng = np.random.default_rng(0)
    batches = [rng.random((n, 3, 32, 32), dtype=np.float32) for n in (1, 3, 2)]
    answers = model.run(batches)
    assert [a.shape for a in answers] == [(1, 10), (3, 10), (2, 10)]
    for batch, answer in zip(batches, answers, strict=True):
        np.testing.assert_allclose(answer, pipeline.classify_undefended(batch), atol=1e-5)


def test_label_output_is_the_argmax(pipeline):
    images = np.random.default_rng(1).random((4, 3, 32, 32), dtype=np.float32)
    (labels,) = served(pipeline, UNDEFENDED, "label").run([images])
    assert labels.dtype == np.int64 and labels.shape == (4, 1)
    np.testing.assert_array_equal(labels[:, 0], pipeline.classify_undefended(images).argmax(1))


def test_every_image_of_a_joined_batch_draws_afresh(pipeline):
    image = np.random.default_rng(2).random((1, 3, 32, 32), dtype=np.float32)
    answers = served(pipeline, PURIFY).run([image] * 4 + [np.repeat(image, 4, axis=0)])
    purified = np.concatenate(answers)
    assert purified.shape == (8, 3, 32, 32)
    distinct = {purified[i].tobytes() for i in range(8)}
    assert len(distinct) == 8, "identical purifications: the draws were shared"


@pytest.mark.parametrize(("images", "pictures", "needle"), [
    (None, None, "exactly one input"),
    (np.zeros((1, 3, 32, 32), np.float32), np.array([[b"x"]], dtype=object), "exactly one"),
    (np.full((1, 3, 32, 32), 1.5, np.float32), None, r"\[0, 1\]"),
    (np.full((1, 3, 32, 32), np.inf, np.float32), None, "NaN or inf"),
    (np.zeros((1, 3, 16, 32), np.float32), None, "height"),
    (None, np.array([[b"not a picture"]], dtype=object), "not a PNG or JPEG"),
])
def test_bad_requests_raise_input_errors(pipeline, images, pictures, needle):
    with pytest.raises(InputError, match=needle):
        served(pipeline, CLASSIFY).images_from(images, pictures)


def test_unknown_task_is_refused(pipeline):
    with pytest.raises(InputError, match="unknown task"):
        served(pipeline, "logits")
