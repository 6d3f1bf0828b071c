"""torch → ONNX for the purifiers (dynamic batch, height, width) and the classifier (dynamic batch).

Uses torch's current exporter (``torch.onnx.export(..., dynamo=True)``). The classifier graph
ends with a softmax, so every consumer receives probabilities.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn
from torch.export import Dim

from matt.errors import ExportError
from matt.formats.bundle import CLASSIFIER_INPUT, CLASSIFIER_OUTPUT, PURIFIER_INPUT, PURIFIER_OUTPUT

DEFAULT_OPSET = 18
MAX_SIDE = 4096
MAX_BATCH = 4096


class ClassifierWithSoftmax(nn.Module):
    """The classifier as exported: images in [0, 1] → class probabilities."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier(images), dim=-1)


def _export(module: nn.Module, example: torch.Tensor, dynamic: dict[int, Dim], path: Path,
            names: tuple[str, str], opset: int) -> None:
    module = module.eval()
    # The exporter logs a warning per missing torchvision op; matt needs none of them.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, (example,), input_names=[names[0]], output_names=[names[1]],
                dynamic_shapes=(dynamic,), opset_version=opset, dynamo=True, verbose=False,
            )
        program.save(str(path))
    except Exception as exc:  # the exporter raises many kinds
        raise ExportError(f"{path.name}: ONNX export failed ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200]})") from None
    onnx.checker.check_model(str(path))


def export_purifier(purifier: nn.Module, channels: int, path: Path,
                    opset: int = DEFAULT_OPSET) -> None:
    """Write ``purifier`` as ONNX with dynamic batch, height and width."""
    dynamic = {0: Dim("batch", min=1, max=MAX_BATCH), 2: Dim("height", min=1, max=MAX_SIDE),
               3: Dim("width", min=1, max=MAX_SIDE)}
    example = torch.rand(2, channels, 23, 19)
    _export(purifier, example, dynamic, path, (PURIFIER_INPUT, PURIFIER_OUTPUT), opset)


def export_classifier(classifier: nn.Module, input_shape: tuple[int, int, int], path: Path,
                      opset: int = DEFAULT_OPSET) -> None:
    """Write ``classifier`` + softmax as ONNX with a dynamic batch and a fixed image size."""
    dynamic = {0: Dim("batch", min=1, max=MAX_BATCH)}
    example = torch.rand(2, *input_shape)
    _export(ClassifierWithSoftmax(classifier), example, dynamic, path,
            (CLASSIFIER_INPUT, CLASSIFIER_OUTPUT), opset)
