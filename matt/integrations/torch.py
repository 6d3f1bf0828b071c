"""A MATT pipeline as a torch ``nn.Module``.

::

    from matt.integrations.torch import DefendedModule
    model = DefendedModule(pipe)                       # images (N, C, H, W) in [0, 1]
    probabilities = model(images)                      # (N, classes), fresh draws per call
    purifier = DefendedModule(pipe, output="purified") # put MATT in front of your own model

The pipeline runs on its own backend (ONNX Runtime, TensorRT, torch); the answer comes back
as a float32 tensor on the input's device. It is a black box: the answer carries no gradient,
because MATT's random draw is not differentiable and the deployed engines give none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from matt.errors import InputError

if TYPE_CHECKING:
    from matt.runtime import Pipeline

OUTPUTS = ("probabilities", "log_probabilities", "purified", "undefended")


class DefendedModule(nn.Module):
    """The defended model (or its purifier) behind ``forward``.

    Args:
        pipeline: a loaded pipeline; the module does not close it.
        output: ``probabilities`` (MATT's answer), ``log_probabilities`` (for NLL losses),
            ``purified`` (the purified images, to compose with another model) or
            ``undefended`` (the classifier alone, the baseline).
    """

    def __init__(self, pipeline: Pipeline, output: str = "probabilities") -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise InputError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        self.pipeline, self.output = pipeline, output

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if self.output == "purified":
                answer = self.pipeline.purify(images)
            elif self.output == "undefended":
                answer = self.pipeline.classify_undefended(images)
            else:
                answer = self.pipeline.predict(images)
        result = torch.from_numpy(answer).to(images.device)
        if self.output == "log_probabilities":
            result = torch.log(result.clamp_min(torch.finfo(result.dtype).tiny))
        return result

    def extra_repr(self) -> str:
        return f"output={self.output!r}, {self.pipeline!r}"
