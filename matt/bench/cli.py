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
from matt.bench.tiling import DEFAULT_HALOS, FIDELITY_BOUND
from matt.cli.options import (
    bundle_option,
    option_group,
    output_option,
    quick_option,
    quiet_option,
    threads_option,
    weights_option,
)
from matt.cli_common import MattCommand, matt_group, run_cli

DEFAULT_OUT = Path("runs/bench")
QUICK_TILING_IMAGES = 100


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


# The full protocol (the paper's 900 timed of 1000 rounds) and ``--quick``: a look in about
# two minutes on a 2-core CPU: few rounds, K 1 and 2 (DISCO's ensemble doubles, MATT does not),
# 32x32, batch 8 instead of 64, FP32, the headline rows only, no INT8 accuracy check. An
# option given on the command line wins over either.
FULL: dict[str, Any] = {"iterations": 900, "warmup": 100, "table_budget_s": 600.0,
                        "accuracy_images": 1000, "calibration_images": 64, "ks": DEFAULT_KS,
                        "sizes": None, "precisions": PRECISIONS}
QUICK: dict[str, Any] = {"iterations": 20, "warmup": 3, "table_budget_s": 5.0,
                         "accuracy_images": 0, "calibration_images": 16, "ks": (1, 2),
                         "sizes": (32,), "precisions": ("fp32",)}
QUICK_BATCHES = {"latency": (1,), "throughput": (8,), "roofline": (8,), "all": (1, 8)}
QUICK_FAMILIES = ("classifier", "matt", "disco-ensemble", "sgemm")


def _preset(name: str, unit: str = "") -> str:
    def show(value: Any) -> str:
        return ",".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}" if \
            isinstance(value, float) else str(value)

    return f"[default: {show(FULL[name])}{unit}; --quick: {show(QUICK[name])}{unit}]"


def bench_options(function: Callable[..., None]) -> Callable[..., None]:
    """The options every timing subcommand shares."""
    return option_group(
        weights_option("the shipped cifar10, or a random-init stand-in if none is shipped; "
                       "with --bundle: the shipped weights it was exported from"),
        bundle_option("time the runtime rows on it, at its own image size"),
        quick_option("a preset that finishes in about two minutes on a 2-core CPU: few "
                     "rounds, K 1,2, 32x32, batch 1 and 8, FP32, headline rows (options "
                     "given still win)"),
        click.option("--backend", "backends", type=CommaList(BACKENDS), default=BACKENDS,
                     show_default=True, help="backends to time; those that cannot run here "
                                             "are skipped with the reason"),
        click.option("--family", "families", type=CommaList(FAMILIES), default=None,
                     help="kinds of row to time (default: every one; roofline: matt,sgemm; "
                          f"--quick: {','.join(QUICK_FAMILIES)})"),
        click.option("--precision", "precisions", type=CommaList(PRECISIONS), default=None,
                     help="precisions to time: fp32 and int8 on the CPU, fp16 with TensorRT "
                          + _preset("precisions")),
        click.option("--k", "ks", type=CommaList(), default=None,
                     help="pool sizes K " + _preset("ks") + "; with --bundle: up to its pool"),
        click.option("--batch", "batches", type=CommaList(), default=None,
                     help="batch sizes; one table per batch and size (default: latency 1, "
                          "throughput and roofline 64, all: 1 and 64; --quick: 8 for 64)"),
        click.option("--size", "sizes", type=CommaList(), default=None,
                     help="square image sizes in pixels (default: 32,224, roofline 32; "
                          "--quick: 32; with --bundle: the bundle's)"),
        click.option("--iterations", type=click.IntRange(min=1), default=None,
                     help="timed rounds per table " + _preset("iterations")),
        click.option("--warmup", type=click.IntRange(min=0), default=None,
                     help="untimed rounds before them " + _preset("warmup")),
        click.option("--table-budget", "table_budget_s", type=click.FloatRange(
                     min=0, min_open=True), default=None,
                     help="seconds per table at most; fewer rounds when it binds, and the "
                          "record says so " + _preset("table_budget_s", " s")),
        threads_option(os.cpu_count() or 1),
        click.option("--patch", type=click.IntRange(min=1), default=None,
                     help="patch size in pixels (default: the bundle's patch grid kept at "
                          "every image size)"),
        click.option("--halo", type=click.IntRange(min=0), default=None,
                     help="halo in pixels (default: the bundle's)"),
        click.option("--accuracy-images", type=click.IntRange(min=0), default=None,
                     help="clean images for the INT8 accuracy check "
                          + _preset("accuracy_images")),
        click.option("--data-dir", default=None, help="the dataset folder for that check"),
        click.option("--calibration-images", type=click.IntRange(min=1), default=None,
                     help="INT8 calibration images of the benchmark's own export (ignored "
                          "with --bundle) " + _preset("calibration_images")),
        output_option("folder for the JSON, Markdown and PNG files; the committed records "
                      "are written only when it is benchmarks/results", DEFAULT_OUT),
        click.option("--name", default=None,
                     help="file name stem [default: <command>-<bundle or weights name>]"),
        quiet_option(),
    )(function)


def _choice(options: dict[str, Any], name: str) -> Any:
    """The value given on the command line, else the preset's (``--quick`` or the full one)."""
    if options[name] is not None:
        return options[name]
    return (QUICK if options["quick"] else FULL)[name]


def _tables(command: str, options: dict[str, Any]) -> tuple[tuple[int, int], ...]:
    sizes = options["sizes"]
    if sizes is None and options["bundle"] is not None:
        from matt.bench.run import bundle_size

        sizes = (bundle_size(options["bundle"]),)
    batches = options["batches"]
    if options["quick"]:
        sizes = sizes or QUICK["sizes"]
        batches = batches or QUICK_BATCHES[command]
    return table_grid(command, batches, sizes)


def _ks(options: dict[str, Any]) -> tuple[int, ...]:
    """``--k``, else the preset's K cut to the bundle's pool (its size added) with --bundle."""
    ks = _choice(options, "ks")
    if options["ks"] is None and options["bundle"] is not None:
        from matt.formats.bundle import load_bundle

        pool = len(load_bundle(options["bundle"], verify=False).manifest.purifiers)
        ks = tuple(sorted({k for k in ks if k < pool} | {pool}))
    return ks


def _run(command: str, **options: Any) -> None:
    spec = BenchSpec(
        command=command, ks=_ks(options), tables=_tables(command, options),
        backends=options["backends"],
        families=options["families"] or (QUICK_FAMILIES if options["quick"]
                                         and command != "roofline" else None),
        precisions=_choice(options, "precisions"), iterations=_choice(options, "iterations"),
        warmup=_choice(options, "warmup"), table_budget_s=_choice(options, "table_budget_s"),
        threads=options["threads"], patch=options["patch"], halo=options["halo"],
        accuracy_images=_choice(options, "accuracy_images"), data_dir=options["data_dir"],
        calibration_images=_choice(options, "calibration_images"),
    )
    from matt.bench.report import console_text, write_results
    from matt.bench.run import run_benchmark

    result = run_benchmark(spec, options["weights"], options["bundle"],
                           progress=not options["quiet"], argv=sys.argv)
    paths = write_results(result, options["output"], options["name"])
    click.echo(console_text(result))
    for path in paths:
        click.echo(f"wrote {path}")


def _subcommand(command: str, help_text: str) -> click.Command:
    @click.command(command, cls=MattCommand, needs="bench", help=help_text)
    @bench_options
    def subcommand(**options: Any) -> None:
        _run(command, **options)

    return subcommand


@matt_group("matt-bench", help="Time the defense (latency, throughput, roofline); write JSON, "
                               "Markdown and PNG under runs/bench (or -o). Every timing command "
                               "takes the same options; they differ in their default tables and "
                               "rows. --quick: a look in about two minutes.")
def bench() -> None:
    """matt-bench."""


for _command, _help in (
    ("latency", "Latency at batch 1: classifier, MATT per K and backend, DISCO per K."),
    ("throughput", "Throughput at batch 64: the same rows, images per second."),
    ("roofline", "Achieved FLOP/s of the largest pool against a large SGEMM, batch 64."),
    ("all", "Latency, throughput and roofline in one run: every table of the README."),
):
    bench.add_command(_subcommand(_command, _help))


@bench.command("gpu", cls=MattCommand, add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
               help="The run for a lent CUDA machine (also benchmarks/gpu.sh): the gpu tests, "
                    "MATT on CUDA streams against K, the classifier, DISCO, in 8 minutes; "
                    "'matt-bench gpu -h' lists its own options.")
@click.pass_context
def gpu(ctx: click.Context) -> None:
    """matt-bench gpu: its options are parsed by :mod:`matt.bench.gpu` (argparse, torch only)."""
    from matt.bench.gpu.main import main as gpu_main

    gpu_main(list(ctx.args), prog="matt-bench gpu")


@bench.command("tiling", cls=MattCommand, needs="bench",
               help="What the halo and patch size cost and change: per (patch, halo), pixels "
                    "processed, purifier time relative to the exact halo, |diff| from exact "
                    "purification, clean accuracy.")
@option_group(
    weights_option("the shipped cifar10"),
    click.option("--halos", type=CommaList(minimum=0), default=",".join(map(str, DEFAULT_HALOS)),
                 show_default=True, help="halos in pixels; the exact halo (the pool's receptive "
                                         "radius) and the weights' default are always added"),
    click.option("--patches", type=CommaList(), default=None,
                 help="patch sizes in pixels (default: the weights' patch and twice it)"),
    click.option("--images", type=click.IntRange(min=1), default=None,
                 help="clean test images (fewer where the data set has fewer) "
                      f"[default: 1000; --quick: {QUICK_TILING_IMAGES}]"),
    quick_option(f"{QUICK_TILING_IMAGES} images instead of 1000"),
    click.option("--rounds", "timed_rounds", type=click.IntRange(min=1), default=16,
                 show_default=True, help="batches timed per halo at least (a small image set "
                                         "is purified again, timed only)"),
    click.option("--bound", type=click.FloatRange(min=0, min_open=True), default=FIDELITY_BOUND,
                 show_default=True, help="the chosen plan's largest mean |diff| from exact"),
    click.option("--data-dir", default=None, help="the data set's folder (default: its usual "
                                                  "place; CIFAR-10: the 20 foolbox images)"),
    threads_option(os.cpu_count() or 1),
    output_option("folder for the JSON, Markdown and PNG files; the committed records are "
                  "written only when it is benchmarks/results", DEFAULT_OUT),
    click.option("--name", default=None, help="file name stem [default: tiling-<dataset>]"),
    quiet_option(),
)
def tiling(weights: str | None, halos: tuple[int, ...], patches: tuple[int, ...] | None,
           images: int | None, quick: bool, timed_rounds: int, bound: float,
           data_dir: str | None, threads: int, output: Path, name: str | None,
           quiet: bool) -> None:
    """matt-bench tiling."""
    from matt.bench.tiling import TilingSpec, run_tiling
    from matt.bench.tiling_report import results_markdown, write_tiling

    count = images if images is not None else QUICK_TILING_IMAGES if quick else 1000
    spec = TilingSpec(halos=halos, patches=patches, images=count, data_dir=data_dir,
                      threads=threads, bound=bound, timed_rounds=timed_rounds)
    result = run_tiling(spec, weights, progress=not quiet, argv=sys.argv)
    paths = write_tiling(result, output, name or f"tiling-{result['subject']['dataset']}")
    click.echo(results_markdown(result))
    for patch, entry in result["smallest_halo"]["per_patch"].items():
        click.echo(f"patch {patch}: smallest halo with mean |diff| < "
                   f"{result['smallest_halo']['mean_abs_diff_below']:g} is {entry['halo']}, "
                   f"{1 / entry['relative_cost']:.1f}x cheaper than exact, clean accuracy "
                   f"{entry['accuracy']:.4f}")
    chosen = result["choice"]["chosen"]
    click.echo("no (patch, halo) passes the bound" if chosen is None else
               f"chosen under mean |diff| <= {bound:g} and the exact accuracy interval: patch "
               f"{chosen['patch']}, halo {chosen['halo']} "
               f"({chosen['macs_per_image_pixel'] / 1e3:.1f} k MACs per image pixel)")
    for path in paths:
        click.echo(f"wrote {path}")


@bench.command("fused", cls=MattCommand, needs="bench",
               help="The pool as one fused graph (one ONNX Runtime call per query) against one "
                    "session per member and against each member alone, per batch size and "
                    "precision; writes the rule the runtime's fused='auto' should follow.")
@option_group(
    bundle_option("with fused graphs (matt-export writes them); default: the --weights "
                  "exported into a temporary folder"),
    weights_option("the shipped cifar10 (exported with its fused graphs when no --bundle)"),
    click.option("--batch", "batches", type=CommaList(), default="1,16,64", show_default=True,
                 help="batch sizes"),
    click.option("--precision", "precisions", type=CommaList(("fp32", "int8")),
                 default="fp32,int8", show_default=True, help="precisions"),
    click.option("--iterations", type=click.IntRange(min=1), default=30, show_default=True,
                 help="timed rounds per table"),
    click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True,
                 help="untimed rounds before them"),
    click.option("--table-budget", "table_budget_s", type=click.FloatRange(min=0, min_open=True),
                 default=300.0, show_default=True, help="seconds per table at most"),
    click.option("--no-members", is_flag=True, help="leave out the members-alone rows"),
    click.option("--members-at", "members_batches", type=CommaList(), default=None,
                 help="time the members alone at these batch sizes only [default: every one]"),
    threads_option(os.cpu_count() or 1),
    output_option("folder for the JSON and Markdown", DEFAULT_OUT),
    click.option("--name", default=None, help="file name stem [default: fused-<bundle name>]"),
    quiet_option(),
)
def fused(bundle: Path | None, weights: str | None, batches: tuple[int, ...],
          precisions: tuple[str, ...], iterations: int, warmup: int, table_budget_s: float,
          no_members: bool, members_batches: tuple[int, ...] | None, threads: int,
          output: Path, name: str | None, quiet: bool) -> None:
    """matt-bench fused."""
    import tempfile

    from matt.bench.fused import FusedSpec, markdown, record_paths, run_fused, write_fused

    stem = name or f"fused-{(bundle or Path(weights or 'cifar10')).stem}"
    record_paths(output, stem)  # refused before an hour of timing, not after
    spec = FusedSpec(batches=batches, precisions=precisions, iterations=iterations,
                     warmup=warmup, table_budget_s=table_budget_s, threads=threads,
                     members_alone=not no_members, members_batches=members_batches)
    with tempfile.TemporaryDirectory(prefix="matt-bench-fused-") as scratch:
        if bundle is None:
            from matt.bench.subjects import resolve_weights_path
            from matt.export import export_bundle
            from matt.export.options import ExportOptions

            path = resolve_weights_path(weights or "cifar10")
            assert path is not None
            options = ExportOptions(precision="int8" if "int8" in precisions else "fp32")
            bundle = export_bundle(path, Path(scratch) / path.stem, options=options)
        result = run_fused(spec, bundle, progress=not quiet, argv=sys.argv)
    paths = write_fused(result, output, stem)
    click.echo(markdown(result))
    for path in paths:
        click.echo(f"wrote {path}")


def main() -> None:
    run_cli(bench)
