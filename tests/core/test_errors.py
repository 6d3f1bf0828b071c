"""One exception hierarchy: every error matt raises on purpose is a MattError, and each fault
has one kind (matt/errors.py says which)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

from matt import errors
from matt.errors import (
    BackendUnavailable,
    BundleError,
    InputError,
    MattError,
    MissingExtra,
    RemoteError,
    SpecError,
    WeightsError,
)

PACKAGE = Path(errors.__file__).parent


def test_every_error_is_a_matt_error_with_exit_code_2():
    kinds = [obj for _, obj in inspect.getmembers(errors, inspect.isclass)
             if obj.__module__ == "matt.errors"]
    assert {k.__name__ for k in kinds} >= {"InputError", "SpecError", "WeightsError",
                                           "BundleError", "DataError", "BackendUnavailable",
                                           "ExportError", "RemoteError", "MissingExtra"}
    assert all(issubclass(kind, MattError) and kind.exit_code == 2 for kind in kinds)
    assert issubclass(InputError, ValueError) and issubclass(SpecError, ValueError)


def test_no_error_class_is_defined_outside_errors_py():
    """Subclasses of a matt error live in errors.py (one taxonomy, one place)."""
    names = {name for name, obj in vars(errors).items() if inspect.isclass(obj)}
    outside = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(base, ast.Name) and base.id in names for base in node.bases):
                outside.append(f"{path.relative_to(PACKAGE.parent)}: {node.name}")
    assert outside == []


def test_a_missing_extra_names_the_command_and_the_install_line():
    error = MissingExtra("matt-eval", "eval", "art")
    assert str(error) == "matt-eval needs the 'eval' extra: pip install 'matt[eval]'"
    assert error.module == "art"


def test_faults_raise_their_kind(tmp_path):
    from matt.core import PatchPlan, check_image_batch
    from matt.formats import load_bundle
    from matt.formats.weights import load_weights
    from matt.runtime.devices import choose_backend
    from matt.runtime.engines.base import check_inputs

    with pytest.raises(InputError):  # a value handed in at call time
        check_image_batch(np.zeros((1, 3, 2, 2), np.float64))
    with pytest.raises(InputError):
        check_inputs("p0", np.zeros((1, 3, 2), np.float32))
    with pytest.raises(InputError):
        choose_backend("nothing")
    with pytest.raises(SpecError):  # a spec built with invalid values
        PatchPlan.for_patch(8, 8, 0, 1)
    with pytest.raises(BundleError):
        load_bundle(tmp_path)
    (tmp_path / "w.pt").write_text("not torch")
    with pytest.raises(WeightsError):
        load_weights(tmp_path / "w.pt")
    with pytest.raises(BackendUnavailable):
        choose_backend("tensorrt", "cpu")
    assert not issubclass(RemoteError, (InputError, BackendUnavailable))
