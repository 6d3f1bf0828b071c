"""The console scripts' entry points: each imports its command module here, so an optional
library imported at module level is reported like any other missing extra (one line, exit 2)
instead of a traceback before :func:`matt.cli_common.run_cli` could catch it."""

from __future__ import annotations

import importlib
import sys

import click

COMMANDS = {"matt-train": "matt.training.cli", "matt-export": "matt.export.cli",
            "matt-serve": "matt.serve.cli", "matt-eval": "matt.evaluation.cli",
            "matt-bench": "matt.bench.cli"}


def launch(prog: str) -> None:
    """Import ``prog``'s module and run its ``main()``."""
    from matt.cli_common import missing_import

    try:
        module = importlib.import_module(COMMANDS[prog])
    except ImportError as exc:
        missing = missing_import(exc, prog)
        if missing is None:
            raise
        click.echo(f"error: {missing}", err=True)
        sys.exit(missing.exit_code)
    module.main()


def train() -> None:
    launch("matt-train")


def export() -> None:
    launch("matt-export")


def serve() -> None:
    launch("matt-serve")


def evaluate() -> None:
    launch("matt-eval")


def bench() -> None:
    launch("matt-bench")
