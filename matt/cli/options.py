"""Reusable option groups (Polygraphy's habit): one definition per flag, so ``--threads``,
``--seed``, ``--weights``, ``--bundle``, ``-o/--output``, ``--quick`` and ``--quiet`` mean the
same in every command that takes them; a command states only its default."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from matt.assets import SHIPPED_NAMES

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]

SHIPPED = ", ".join(SHIPPED_NAMES)


def option_group(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Several options as one decorator, shown by ``--help`` in the order listed."""

    def apply(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


def threads_option(default: int, *, zero_means: str | None = None) -> Callable[[F], F]:
    """``--threads N``: CPU threads of torch and ONNX Runtime; 0 only where it means something."""
    text = "CPU threads for torch and ONNX Runtime"
    if zero_means is not None:
        text += f" (0: {zero_means})"
    return click.option("--threads", type=click.IntRange(min=0 if zero_means else 1),
                        default=default, show_default=True, help=text)


def seed_option(default: int | None = None) -> Callable[[F], F]:
    """``--seed N``: fixes every random draw of the run, so it can be repeated exactly."""
    text = "fixes every random draw, for a repeatable run"
    if default is None:
        text += " [default: OS randomness]"
    return click.option("--seed", type=click.IntRange(min=0), default=default,
                        show_default=default is not None, help=text)


def confidence_option() -> Callable[[F], F]:
    """``--confidence``: the softmax confidence a held-out crop of a photograph needs (cifar10
    and imagenet label their held-out crops with the classifier; fmnist ignores it)."""
    return click.option("--confidence", type=float, default=0.9, show_default=True,
                        help="cifar10, imagenet: softmax confidence a held-out crop needs.")


def weights_option(default: str) -> Callable[[F], F]:
    """``--weights W``: a ``weights.pt`` path or the name of a shipped one."""
    return click.option("--weights", default=None, metavar="WEIGHTS",
                        help=f"a weights.pt path or a shipped name ({SHIPPED}) "
                             f"[default: {default}]")


def bundle_option(text: str = "") -> Callable[[F], F]:
    """``--bundle B``: a bundle folder written by ``matt-export``."""
    return click.option("--bundle", type=click.Path(path_type=Path), default=None,
                        metavar="BUNDLE",
                        help="a bundle folder written by matt-export" + (f"; {text}" if text
                                                                         else ""))


def output_option(what: str, default: Path | None = None, *, shown: str | None = None,
                  folder: bool = True) -> Callable[[F], F]:
    """``-o/--output PATH``: where the command writes its result (a folder unless said)."""
    kind = click.Path(file_okay=not folder, path_type=Path)
    shown = shown or (str(default) if default is not None else None)
    return click.option("-o", "--output", type=kind, default=default,
                        help=what + (f" [default: {shown}]" if shown else ""))


def quick_option(what: str) -> Callable[[F], F]:
    """``--quick``: a preset of small counts that finishes within minutes on a laptop CPU."""
    return click.option("--quick", is_flag=True, help=what)


def quiet_option() -> Callable[[F], F]:
    """``--quiet``: no progress bars (results and errors are still printed)."""
    return click.option("--quiet", is_flag=True, help="no progress bars")
