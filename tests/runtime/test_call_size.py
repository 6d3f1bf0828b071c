"""The call size is an argument of a pipeline, not a module global a benchmark overwrites."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from matt.core import EngineDraw
from matt.errors import InputError
from matt.runtime import Concurrency, Pipeline, scheduler
from matt.runtime.scheduler import PatchScheduler, items_per_call
from tests.runtime.conftest import random_images
from tests.runtime.test_scheduler import Counting

PACKAGE = Path(__file__).parents[2] / "matt"


@pytest.mark.parametrize("pixels", [900, 1 << 16])
def test_a_scheduler_keeps_its_calls_under_its_own_pixels_per_call(rgb_bundle, pixels):
    _, bundle = rgb_bundle
    before = scheduler.PIXELS_PER_CALL
    with Pipeline.load(bundle, backend="onnxruntime", pool=2) as pipe:
        engines = [Counting(runner) for runner in pipe._loaded.engines.purifiers]
        chunked = PatchScheduler(engines, pipe.patch, pipe.halo, Concurrency.SEQUENTIAL,
                                 pixels_per_call=pixels)
        images = random_images((12, *pipe.input_shape), seed=1)
        purified = chunked.purify(images, EngineDraw(2, seed=0))
        np.testing.assert_allclose(purified, pipe.with_seed(0).purify(images), atol=1e-6)
        window = (3, *pipe.plan().window_shape)
    calls = [size for engine in engines for size in engine.calls]
    assert max(calls) <= items_per_call(window, pixels)
    assert sum(calls) == 12 * pipe.plan().patches_per_image
    assert before == scheduler.PIXELS_PER_CALL


def test_pixels_per_call_must_be_positive():
    with pytest.raises(InputError, match="pixels_per_call"):
        PatchScheduler([], 8, 1, Concurrency.SEQUENTIAL, pixels_per_call=0)


def _assigned_module_attributes(path: Path) -> list[str]:
    """``module.NAME = ...`` where ``module`` was imported: another module's global rebound."""
    tree = ast.parse(path.read_text())
    modules = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
               if isinstance(node, ast.Import) for alias in node.names}
    modules |= {alias.asname or alias.name for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith("matt") for alias in node.names}
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else [])
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                    and target.value.id in modules:
                found.append(f"{path.name}:{node.lineno} {target.value.id}.{target.attr}")
    return found


def test_no_module_of_the_runtime_or_the_benchmarks_rebinds_another_modules_global():
    found = [hit for folder in ("runtime", "bench", "core", "formats")
             for path in sorted((PACKAGE / folder).rglob("*.py"))
             for hit in _assigned_module_attributes(path)]
    assert found == []


def test_the_checker_sees_a_rebound_global(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from matt.runtime import scheduler\nscheduler.PIXELS_PER_CALL = 1\n")
    assert _assigned_module_attributes(probe) == ["probe.py:2 scheduler.PIXELS_PER_CALL"]
