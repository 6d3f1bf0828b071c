"""What every console script shares: ``-h/--help``, ``--version``, click's usage line on a
usage error, every other error as one ``error: ...`` line, and a missing optional library as
the pip line that installs it (exit 2, never a traceback).

A command is declared with :func:`matt_command` or :func:`matt_group` and run by
:func:`run_cli`; the reusable options are in :mod:`matt.cli.options`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from matt.cli.extras import is_known, missing_dependency, require_extra
from matt.errors import MattError, MissingExtra

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"],
                                    "max_content_width": 100}


def package_version() -> str:
    """The installed distribution's version; the source tree's when matt is not installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version("matt")
    except importlib.metadata.PackageNotFoundError:
        from matt import __version__

        return __version__


def version_option(prog: str) -> Callable[[F], F]:
    """``--version``: prints ``<prog> <version>`` and exits 0, before any other option counts."""

    def show(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value and not ctx.resilient_parsing:
            click.echo(f"{prog} {package_version()}")
            ctx.exit()

    return click.option("--version", is_flag=True, expose_value=False, is_eager=True,
                        callback=show, help="Show the version and exit.")


class MattCommand(click.Command):
    """A command that checks its pip extra after parsing (so ``-h`` works without it) and
    before any work (so a run never dies half-way on an import).

    Args:
        needs: the extra whose libraries the command imports, or ``None``.
        needs_unless: a parameter that, when set, makes the run need no extra (e.g.
            ``matt-serve --write-repository``).
    """

    def __init__(self, *args: Any, needs: str | None = None, needs_unless: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.needs, self.needs_unless = needs, needs_unless

    def invoke(self, ctx: click.Context) -> Any:
        if self.needs and not (self.needs_unless and ctx.params.get(self.needs_unless)):
            require_extra(self.needs, ctx.find_root().info_name or str(self.name))
        return super().invoke(ctx)


def matt_command(prog: str, *, needs: str | None = None, needs_unless: str | None = None,
            **kwargs: Any) -> Callable[[Callable[..., Any]], MattCommand]:
    """A top-level console script: ``click.command`` with the shared conventions."""

    def decorate(function: Callable[..., Any]) -> MattCommand:
        made = click.command(prog, cls=MattCommand, context_settings=CONTEXT_SETTINGS,
                             needs=needs, needs_unless=needs_unless,
                             **kwargs)(version_option(prog)(function))
        assert isinstance(made, MattCommand)
        return made

    return decorate


def matt_group(prog: str, **kwargs: Any) -> Callable[[Callable[..., Any]], click.Group]:
    """A console script with subcommands; they inherit ``-h/--help``. Declare each one with
    ``@<group>.command(cls=MattCommand, needs=...)`` where it needs an extra."""

    def decorate(function: Callable[..., Any]) -> click.Group:
        return click.group(prog, context_settings=CONTEXT_SETTINGS,
                           **kwargs)(version_option(prog)(function))

    return decorate


def _prog(command: click.Command) -> str:
    name = command.name or ""
    return name if name.startswith("matt-") else Path(sys.argv[0]).name


def _usage_error(error: click.UsageError) -> NoReturn:
    """click's own layout: the usage line and where help is, then the error. A wrong value
    (``--precision fp8``) already names its option and choices, so it stays one line."""
    no_args_is_help = getattr(click.exceptions, "NoArgsIsHelpError", ())
    if isinstance(error, no_args_is_help):  # a bare group: its help, as click shows it
        click.echo(error.format_message(), err=True)
        sys.exit(error.exit_code)
    wrong_value = (isinstance(error, click.BadParameter)
                   and not isinstance(error, click.MissingParameter))
    if error.ctx is not None and not wrong_value:
        click.echo(error.ctx.get_usage(), err=True)
        click.echo(f"Try '{error.ctx.command_path} {error.ctx.help_option_names[0]}' for "
                   "help.\n", err=True)
    click.echo(f"error: {error.format_message()}", err=True)
    sys.exit(error.exit_code)


def missing_import(error: ImportError, prog: str) -> MattError | None:
    """The one-line error for an optional library that failed to import, or ``None`` when the
    failing module is matt's own (a bug: its traceback is the useful report)."""
    name = error.name or ""
    if not name or name.split(".")[0] == "matt":
        return None
    if not isinstance(error, ModuleNotFoundError) and not is_known(name):
        return None
    return missing_dependency(name, prog)


def run_cli(command: click.Command) -> None:
    """Run a click command; a :class:`MattError` is printed as ``error: ...`` with exit code 2."""
    prog = _prog(command)
    try:
        try:
            command.main(prog_name=prog, standalone_mode=False)
        except ImportError as exc:
            missing = missing_import(exc, prog)
            if missing is None:
                raise
            raise missing from None
        except MissingExtra as exc:  # raised by library code as "matt needs ...": name the command
            raise MissingExtra(prog, exc.extra, exc.module) from None
        except MattError as exc:
            cause = exc.__cause__
            if isinstance(cause, ImportError) and (missing := missing_import(cause, prog)):
                raise missing from None
            raise
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        _usage_error(exc)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except MattError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
