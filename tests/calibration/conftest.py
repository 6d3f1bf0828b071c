"""A small purifier and classifier exported to ONNX once for the calibration tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def onnx_models(tmp_path_factory) -> dict[str, Path | torch.nn.Module]:
    """``purifier`` (RGB, random init) and ``classifier`` ONNX files and their torch modules."""
    from matt.export.onnx import export_classifier, export_purifier
    from matt.models import ClassifierSpec, build_classifier
    from tests.conftest import make_pool

    root = tmp_path_factory.mktemp("onnx")
    purifier = make_pool(1, seed=3)[0]
    export_purifier(purifier, 3, root / "purifier.onnx")
    torch.manual_seed(3)
    classifier = build_classifier(ClassifierSpec("resnet", channels=3, width=8, blocks=1)).eval()
    export_classifier(classifier, (3, 32, 32), root / "classifier.onnx")
    return {"purifier": root / "purifier.onnx", "classifier": root / "classifier.onnx",
            "purifier_module": purifier, "root": root}
