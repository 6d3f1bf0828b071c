"""The defended model as a torch module: same answers as the pipeline, composable, no gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matt.errors import InputError
from matt.integrations.torch import DefendedModule
from matt.runtime import Pipeline
from tests.runtime.conftest import random_images


@pytest.fixture(scope="module")
def pipe(rgb_bundle):
    with Pipeline.load(rgb_bundle[1], backend="onnxruntime", seed=5) as loaded:
        yield loaded


def test_forward_answers_as_the_pipeline(pipe):
    images = random_images((4, *pipe.input_shape), seed=3)
    module = DefendedModule(pipe.with_seed(4))
    answer = module(torch.from_numpy(images))
    assert isinstance(answer, torch.Tensor) and answer.dtype == torch.float32
    np.testing.assert_allclose(answer.numpy(), pipe.with_seed(4).predict(images), atol=1e-6)
    logs = DefendedModule(pipe.with_seed(4), "log_probabilities")(torch.from_numpy(images))
    np.testing.assert_allclose(logs.exp().numpy(), answer.numpy(), atol=1e-6)


def test_the_purifier_composes_with_a_torch_model(pipe):
    images = torch.from_numpy(random_images((3, *pipe.input_shape), seed=6))
    head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 2))
    model = torch.nn.Sequential(DefendedModule(pipe.with_seed(1), "purified"), head)
    expected = head(torch.from_numpy(pipe.with_seed(1).purify(images)))
    torch.testing.assert_close(model(images), expected)


def test_it_is_a_black_box_without_gradient(pipe):
    images = torch.from_numpy(random_images((2, *pipe.input_shape))).requires_grad_(True)
    answer = DefendedModule(pipe)(images)
    assert not answer.requires_grad
    undefended = DefendedModule(pipe, "undefended")(images.detach())
    np.testing.assert_allclose(undefended.numpy(), pipe.classify_undefended(images.detach()),
                               atol=1e-6)


def test_out_of_range_tensors_and_unknown_outputs_are_refused(pipe):
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        DefendedModule(pipe)(torch.ones((1, *pipe.input_shape)) * 1.5)
    with pytest.raises(InputError, match="output must be one of"):
        DefendedModule(pipe, "logits")
