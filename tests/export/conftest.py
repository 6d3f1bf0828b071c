"""One small bundle exported through the command line, shared by the export tests."""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class CliRun:
    exit_code: int
    stdout: str
    stderr: str


def invoke_cli(*args: str | Path) -> CliRun:
    """Run ``matt-export`` in-process exactly as the console script does (``main()``)."""
    from matt.export.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    saved_argv = sys.argv
    sys.argv = ["matt-export", *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = saved_argv
    return CliRun(code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    """A random-init RGB 32×32 ``weights.pt`` with a pool of two (EDSR and RCAN)."""
    from matt.training.weights import save_weights
    from tests.conftest import make_weights

    root = tmp_path_factory.mktemp("weights")
    return save_weights(make_weights(pool_size=2), root / "weights.pt")


@pytest.fixture(scope="session")
def int8_export(random_weights, tmp_path_factory) -> tuple[Path, Path, CliRun]:
    """``matt-export weights.pt --precision int8``: (weights, bundle folder, the CLI's run)."""
    out_dir = tmp_path_factory.mktemp("bundles") / "int8"
    run = invoke_cli(random_weights, "-o", out_dir, "--precision", "int8", "--check-images", "32",
                     "--calibration-images", "64")
    return random_weights, out_dir, run
