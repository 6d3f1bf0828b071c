"""What every console script shares: project errors become one line and a non-zero exit."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import click

from matt.errors import MattError

F = TypeVar("F", bound=Callable[..., object])


def run_cli(command: click.Command) -> None:
    """Run a click command; a :class:`MattError` is printed as ``error: ...`` with exit code 2."""
    try:
        command.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except MattError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
