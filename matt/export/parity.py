"""Export parity: each ONNX graph, run by ONNX Runtime, must give torch's output on real images.

Purifiers are checked on whole images and on the bundle's windows (patch + 2·halo; the first
256), two different spatial sizes through the dynamic height and width; the classifier's
probabilities on whole images. A model off by more than the tolerance fails the export.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from matt.calibration.datasets import ImageSet
from matt.calibration.quality import Run
from matt.core import PatchPlan, extract_windows
from matt.errors import ExportError
from matt.formats.bundle import Manifest

BATCH = 256
MAX_WINDOWS = 256


def _torch_run(module: nn.Module, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(batch))).numpy()


def _max_abs_diff(onnx_run: Run, module: nn.Module, inputs: np.ndarray) -> float:
    worst = 0.0
    for start in range(0, len(inputs), BATCH):
        batch = inputs[start: start + BATCH]
        diff = np.abs(onnx_run(batch) - _torch_run(module, batch))
        worst = max(worst, float(diff.max()) if np.isfinite(diff).all() else float("inf"))
    return worst


def check_parity(manifest: Manifest, onnx_runs: dict[str, Run], torch_modules: dict[str, nn.Module],
                 images: ImageSet, tolerance: float) -> dict[str, Any]:
    """Compare every model; return the manifest's ``parity`` record.

    Args:
        manifest: the bundle's manifest (model names, patch, halo).
        onnx_runs: model name → ONNX Runtime run of its exported graph.
        torch_modules: model name → the torch module it was exported from (``classifier``
            includes the softmax).
        images: real images of the bundle's dataset.
        tolerance: largest max-abs difference allowed.

    Raises:
        ExportError: a model differs by more than ``tolerance``; the message lists them.
    """
    plan = PatchPlan.for_patch(images.images.shape[2], images.images.shape[3], manifest.patch,
                               manifest.halo)
    windows = extract_windows(images.images, plan)[:MAX_WINDOWS]
    models: dict[str, Any] = {}
    for model in manifest.purifiers:
        whole = _max_abs_diff(onnx_runs[model.name], torch_modules[model.name], images.images)
        windowed = _max_abs_diff(onnx_runs[model.name], torch_modules[model.name], windows)
        models[model.name] = {"max_abs_diff": max(whole, windowed),
                              "shapes": [list(images.images.shape), list(windows.shape)]}
    classifier = _max_abs_diff(onnx_runs["classifier"], torch_modules["classifier"],
                               images.images)
    models["classifier"] = {"max_abs_diff": classifier, "shapes": [list(images.images.shape)]}
    failed = {name: entry["max_abs_diff"] for name, entry in models.items()
              if not entry["max_abs_diff"] <= tolerance}
    if failed:
        listed = ", ".join(f"{name} {diff:.2e}" for name, diff in failed.items())
        raise ExportError(f"ONNX Runtime differs from torch by more than {tolerance:g} "
                          f"(max abs) on {images.source}: {listed}; nothing was written")
    return {"tolerance": tolerance, "backend": "onnxruntime CPUExecutionProvider",
            "reference": "torch " + torch.__version__.split("+")[0], **images.describe(),
            "models": models}
