"""``matt-bench latency|throughput|roofline|all``: time the defense, write JSON, Markdown, PNG.

Every command takes the same options; they differ in their default batch sizes and image
sizes and in the rows they time (``roofline``: the largest pool against a large SGEMM).
``matt-bench tiling`` has its own few options: it sweeps the halo and patch size of one
weights file (:mod:`matt.bench.tiling`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from matt.bench.spec import BACKENDS, DEFAULT_KS, FAMILIES, PRECISIONS, BenchSpec, table_grid
from matt.bench.tiling import DEFAULT_HALOS
from matt.cli_common import run_cli

DEFAULT_OUT = Path("benchmarks/results")


class CommaList(click.ParamType):
    """``1,2,4`` → (1, 2, 4), each at least ``minimum``; with ``choices``, names from that set
    instead of integers."""

    name = "list"

    def __init__(self, choices: tuple[str, ...] | None = None, minimum: int = 1) -> None:
        self.choices = choices
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[Any, ...]:
        if isinstance(value, tuple):
            return value
        items = [item.strip() for item in str(value).split(",") if item.strip()]
        if not items:
            self.fail("needs at least one value", param, ctx)
        if self.choices is not None:
            unknown = [item for item in items if item not in self.choices]
            if unknown:
                self.fail(f"{', '.join(unknown)} not among {', '.join(self.choices)}", param, ctx)
            return tuple(items)
        try:
            numbers = tuple(int(item) for item in items)
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers", param, ctx)
        if any(number < self.minimum for number in numbers):
            self.fail(f"every value must be >= {self.minimum}, got {value!r}", param, ctx)
        return numbers


def bench_options(function: Callable[..., None]) -> Callable[..., None]:
    """The options every subcommand shares."""
    options = [
        click.option("--weights", default=None,
                     help="weights.pt path or shipped name (default: the shipped cifar10, or "
                          "a random-init stand-in if none is shipped)"),
        click.option("--bundle", type=click.Path(path_type=Path), default=None,
                     help="use this bundle for the runtime rows at its own image size "
                          "(default: export one from --weights per size)"),
        click.option("--backend", "backends", type=CommaList(BACKENDS), default=BACKENDS,
                     show_default=True, help="backends to time; those that cannot run here "
                                             "are skipped with the reason"),
        click.option("--family", "families", type=CommaList(FAMILIES), default=None,
                     help="kinds of row to time (default: every one; roofline: matt,sgemm)"),
        click.option("--precision", "precisions", type=CommaList(PRECISIONS),
                     default=PRECISIONS, show_default=True,
                     help="precisions to time: fp32 and int8 on the CPU, fp16 with TensorRT"),
        click.option("--k", "ks", type=CommaList(), default=DEFAULT_KS, show_default=True,
                     help="pool sizes K"),
        click.option("--batch", "batches", type=CommaList(), default=None,
                     help="batch sizes; one table per batch and size (default: latency 1, "
                          "throughput and roofline 64; all: 1 at 32 and 224, 64 at 32)"),
        click.option("--size", "sizes", type=CommaList(), default=None,
                     help="square image sizes in pixels (default: 32,224; roofline 32)"),
        click.option("--iterations", type=click.IntRange(min=1), default=900,
                     show_default=True, help="timed rounds per table"),
        click.option("--warmup", type=click.IntRange(min=0), default=100, show_default=True,
                     help="untimed rounds before them"),
        click.option("--table-budget", "table_budget_s", type=click.FloatRange(min=0,
                     min_open=True), default=600.0, show_default=True,
                     help="seconds per table at most; fewer rounds when it binds (recorded)"),
        click.option("--threads", type=click.IntRange(min=1), default=os.cpu_count() or 1,
                     show_default=True, help="CPU threads for torch and ONNX Runtime"),
        click.option("--patch", type=click.IntRange(min=1), default=None,
                     help="patch size in pixels (default: the bundle's patch grid kept at "
                          "every image size)"),
        click.option("--halo", type=click.IntRange(min=0), default=None,
                     help="halo in pixels (default: the bundle's)"),
        click.option("--accuracy-images", type=click.IntRange(min=0), default=1000,
                     show_default=True, help="clean images for the INT8 accuracy check"),
        click.option("--data-dir", default=None, help="the dataset folder for that check"),
        click.option("--calibration-images", type=click.IntRange(min=1), default=64,
                     show_default=True, help="INT8 calibration images of the benchmark's own "
                                             "export (ignored with --bundle)"),
        click.option("-o", "--out", type=click.Path(path_type=Path), default=DEFAULT_OUT,
                     show_default=True, help="folder for the JSON, Markdown and PNG files"),
        click.option("--name", default=None, help="file name stem (default: the command)"),
        click.option("--quiet", is_flag=True, help="no progress bars"),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _run(command: str, **options: Any) -> None:
    spec = BenchSpec(
        command=command, ks=options["ks"],
        tables=table_grid(command, options["batches"], options["sizes"]),
        backends=options["backends"],
        families=options["families"],
        precisions=options["precisions"], iterations=options["iterations"],
        warmup=options["warmup"], table_budget_s=options["table_budget_s"],
        threads=options["threads"], patch=options["patch"], halo=options["halo"],
        accuracy_images=options["accuracy_images"], data_dir=options["data_dir"],
        calibration_images=options["calibration_images"],
    )
    from matt.bench.report import write_results
    from matt.bench.run import run_benchmark

    result = run_benchmark(spec, options["weights"], options["bundle"],
                           progress=not options["quiet"], argv=sys.argv)
    paths = write_results(result, options["out"], options["name"] or command)
    counts = result["verdicts"]
    click.echo(f"figures: {counts['passed']} pass, {counts['missed']} miss, "
               f"{counts['not_measured']} not measured; {result['run']['load']['note']}")
    for path in paths:
        click.echo(f"wrote {path}")


def _subcommand(command: str, help_text: str) -> click.Command:
    @click.command(command, help=help_text)
    @bench_options
    def subcommand(**options: Any) -> None:
        _run(command, **options)

    return subcommand


@click.group(help="Time the defense (latency, throughput, roofline); write JSON, Markdown "
                  "and PNG. Every command takes the same options; they differ in their default "
                  "tables and rows.")
def bench() -> None:
    """matt-bench."""


for _command, _help in (
    ("latency", "Latency at batch 1: classifier, MATT per K and backend, DISCO per K."),
    ("throughput", "Throughput at batch 64: the same rows, images per second."),
    ("roofline", "Achieved FLOP/s of the largest pool against a large SGEMM, batch 64."),
    ("all", "Latency, throughput and roofline in one run: every table of the README."),
):
    bench.add_command(_subcommand(_command, _help))


@bench.command("tiling", help="What the halo and patch size cost and change: per (patch, "
                              "halo), pixels processed, purifier time relative to the exact "
                              "halo, |diff| from exact purification, clean accuracy.")
@click.option("--weights", default=None,
              help="weights.pt path or shipped name (default: the shipped cifar10)")
@click.option("--halos", type=CommaList(minimum=0), default=",".join(map(str, DEFAULT_HALOS)),
              show_default=True, help="halos in pixels; the exact halo (the pool's receptive "
                                      "radius) and the weights' default are always added")
@click.option("--patches", type=CommaList(), default=None,
              help="patch sizes in pixels (default: the weights' patch and twice it)")
@click.option("--images", type=click.IntRange(min=1), default=1000, show_default=True,
              help="clean test images (fewer where the data set has fewer)")
@click.option("--data-dir", default=None, help="the data set's folder (default: its usual "
                                               "place; CIFAR-10: the 20 foolbox images)")
@click.option("--threads", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default=True, help="torch CPU threads")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=DEFAULT_OUT,
              show_default=True, help="folder for the JSON, Markdown and PNG files")
@click.option("--name", default=None, help="file name stem (default: tiling-<dataset>)")
@click.option("--quiet", is_flag=True, help="no progress bars")
def tiling(weights: str | None, halos: tuple[int, ...], patches: tuple[int, ...] | None,
           images: int, data_dir: str | None, threads: int, out: Path, name: str | None,
           quiet: bool) -> None:
    """matt-bench tiling."""
    from matt.bench.tiling import TilingSpec, run_tiling
    from matt.bench.tiling_report import write_tiling

    spec = TilingSpec(halos=halos, patches=patches, images=images, data_dir=data_dir,
                      threads=threads)
    result = run_tiling(spec, weights, progress=not quiet, argv=sys.argv)
    for patch, entry in result["smallest_halo"]["per_patch"].items():
        click.echo(f"patch {patch}: smallest halo with mean |diff| < "
                   f"{result['smallest_halo']['mean_abs_diff_below']:g} is {entry['halo']}, "
                   f"{1 / entry['relative_cost']:.1f}x cheaper than exact, clean accuracy "
                   f"{entry['accuracy']:.4f}")
    for path in write_tiling(result, out, name or f"tiling-{result['subject']['dataset']}"):
        click.echo(f"wrote {path}")


def main() -> None:
    run_cli(bench)
