"""Measure the runtime's choices on this machine: ``python -m matt.bench.tune BUNDLE``.

Prints, as markdown tables, the latency and CPU time of ``purify`` for ONNX Runtime session
settings (intra-op threads, graph optimization, sequential engines or a thread pool, arena,
spinning), of ``predict`` for a pool of 1 against the full pool, of ``purify`` for several
engine call sizes with and without a memory arena (with the memory each adds), and, with
``--weights``, of the torch reference
:class:`~matt.defense.RandomPatchPurifier` against the ONNX Runtime pipeline. The defaults in
:mod:`matt.runtime.engines.ort_engine` and :data:`matt.runtime.scheduler.PIXELS_PER_CALL`
were chosen from these numbers (``docs/runtime.md``); the official benchmark is ``matt-bench``.
A benchmark, so it lives with them and not in the runtime; it changes the runtime's settings
only through the arguments a pipeline takes, never a module global.
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import click
import numpy as np
import onnxruntime

from matt.cli_common import CONTEXT_SETTINGS, run_cli
from matt.core import NDArray
from matt.formats.bundle import load_bundle
from matt.runtime.devices import BackendChoice
from matt.runtime.engines import ort_engine
from matt.runtime.engines.base import Concurrency
from matt.runtime.pipeline import Pipeline
from matt.runtime.precision import ModelSelection
from matt.runtime.scheduler import PIXELS_PER_CALL


@dataclass(frozen=True)
class Timing:
    """Milliseconds per call: wall-clock median and minimum, and the median CPU time of this
    process (all its threads), which load from other processes does not inflate."""

    median: float
    minimum: float
    cpu: float

    def cell(self) -> str:
        return f"{self.median:.1f} / {self.minimum:.1f} / {self.cpu:.1f}"


def interleaved_ms(calls: dict[str, Callable[[], object]], repeats: int,
                   warmup: int = 2) -> dict[str, Timing]:
    """Time each call ``repeats`` times, the calls taking turns so that load from other
    processes on a shared machine falls on all of them alike."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            call()
            wall[name].append(1000 * (time.perf_counter() - start))
            cpu[name].append(1000 * (time.process_time() - start_cpu))
    return {name: Timing(statistics.median(wall[name]), min(wall[name]),
                         statistics.median(cpu[name])) for name in calls}


def pipeline_with(bundle_dir: Path, settings: ort_engine.SessionSettings,
                  pool: tuple[int, ...] | None = None,
                  pixels_per_call: int = PIXELS_PER_CALL) -> Pipeline:
    bundle = load_bundle(bundle_dir)
    indices = pool or tuple(range(len(bundle.manifest.purifiers)))
    engines = ort_engine.open_engines(ModelSelection.from_bundle(bundle, indices, "fp32"), "cpu",
                                      settings)
    return Pipeline(bundle.manifest, engines, choice=BackendChoice("onnxruntime", "cpu", "tune"),
                    pool_indices=indices, patch=bundle.manifest.patch,
                    halo=bundle.manifest.halo, seed=0, pixels_per_call=pixels_per_call)


def images_for(pipe: Pipeline, batch: int) -> NDArray:
    return np.random.default_rng(0).random((batch, *pipe.input_shape), dtype=np.float32)


HEADER = "ms: median / min / CPU"


def settings_variants() -> dict[str, ort_engine.SessionSettings]:
    """The default, and each choice changed alone."""
    default = ort_engine.default_settings()
    sequential = replace(default, intra_op_threads=0, concurrency=Concurrency.SEQUENTIAL)
    return {
        "default": default,
        "sequential engines, ONNX Runtime's intra-op threads": sequential,
        "sequential engines, 1 intra-op thread": replace(sequential, intra_op_threads=1),
        "graph optimization extended": replace(default, optimization="extended"),
        "memory arena on": replace(default, memory_arena=True),
        "spinning on": replace(default, spinning=True),
    }


def tune_settings(bundle_dir: Path, batches: tuple[int, ...], repeats: int) -> None:
    variants = settings_variants()
    pipes = {name: pipeline_with(bundle_dir, settings) for name, settings in variants.items()}
    click.echo(f"\n| ONNX Runtime settings, K = {next(iter(pipes.values())).pool_size} | "
               + " | ".join(f"purify batch {b}, {HEADER}" for b in batches) + " |\n"
               + "| --- " * (len(batches) + 1) + "|")
    rows: dict[str, list[str]] = {name: [] for name in pipes}
    for batch in batches:
        images = images_for(next(iter(pipes.values())), batch)
        figures = interleaved_ms({n: functools.partial(p.purify, images) for n, p in pipes.items()},
                                 repeats if batch > 1 else 4 * repeats)
        for name in pipes:
            rows[name].append(figures[name].cell())
    for name, pipe in pipes.items():
        click.echo(f"| {name} | " + " | ".join(rows[name]) + " |")
        pipe.close()


def pool_size_cost(bundle_dir: Path, batches: tuple[int, ...], repeats: int) -> None:
    """predict with one purifier (the first, and the second, which may be another encoder)
    against the full pool, for the default and the other concurrency."""
    default = ort_engine.default_settings()
    other = (replace(default, intra_op_threads=0, concurrency=Concurrency.SEQUENTIAL)
             if default.concurrency is Concurrency.THREADS else
             replace(default, intra_op_threads=1, concurrency=Concurrency.THREADS))
    click.echo(f"\n| engines | batch | pool | predict, {HEADER} | full pool over this pool: "
               "ratio of medians / mins / CPU |\n| --- | --- | --- | --- | --- |")
    for settings in (default, other):
        pipes = {"full": pipeline_with(bundle_dir, settings)}
        pipes |= {f"K = 1 ([{i}] {_encoder(pipes['full'], i)})":
                  pipeline_with(bundle_dir, settings, (i,)) for i in (0, 1)}
        engines = (f"{settings.concurrency.value}, {settings.intra_op_threads or 'auto'} "
                   "intra-op")
        for batch in batches:
            images = images_for(pipes["full"], batch)
            figures = interleaved_ms({n: functools.partial(p.predict, images)
                                      for n, p in pipes.items()},
                                     repeats if batch > 1 else 4 * repeats)
            full = figures["full"]
            for name, timing in figures.items():
                ratio = ("" if name == "full" else
                         f"{full.median / timing.median:.3f} / {full.minimum / timing.minimum:.3f}"
                         f" / {full.cpu / timing.cpu:.3f}")
                label = f"K = {pipes['full'].pool_size}" if name == "full" else name
                click.echo(f"| {engines} | {batch} | {label} | {timing.cell()} | {ratio} |")
        for pipe in pipes.values():
            pipe.close()


def _encoder(pipe: Pipeline, index: int) -> str:
    return str(pipe.manifest.purifiers[index].spec.get("encoder", "?"))


def against_torch(bundle_dir: Path, weights: Path, batch: int, repeats: int) -> None:
    import torch

    from matt.defense import RandomPatchPurifier
    from matt.formats.weights import load_weights

    with pipeline_with(bundle_dir, ort_engine.default_settings()) as pipe:
        images = images_for(pipe, batch)
        tensor = torch.from_numpy(images)
        reference = RandomPatchPurifier(load_weights(weights).build_pool(), pipe.patch,
                                        pipe.halo, seed=0)
        figures = interleaved_ms({"torch": lambda: reference(tensor),
                                  "onnxruntime": lambda: pipe.purify(images)}, repeats)
    slow, fast = figures["torch"], figures["onnxruntime"]
    click.echo(f"\n| batch {batch}, K = {pipe.pool_size} | purify {HEADER} |\n| --- | --- |\n"
               f"| torch reference ({torch.get_num_threads()} threads) | {slow.cell()} |\n"
               f"| onnxruntime pipeline | {fast.cell()} |\n"
               f"| speed-up | {slow.median / fast.median:.2f}× / "
               f"{slow.minimum / fast.minimum:.2f}× / {slow.cpu / fast.cpu:.2f}× |")


def probe_call_size(bundle_dir: str, pixels: int, arena: bool, batch: int,
                    repeats: int) -> None:
    """In a fresh process: purify at one call size and arena setting; print CPU ms and the
    memory the calls added (resident set, MB)."""
    before = _resident_mb()
    pipe = pipeline_with(Path(bundle_dir), replace(ort_engine.default_settings(),
                                                   memory_arena=arena), pixels_per_call=pixels)
    images = images_for(pipe, batch)
    timing = interleaved_ms({"purify": lambda: pipe.purify(images)}, repeats)["purify"]
    print(f"{timing.cell()}|{_resident_mb() - before}")


def _resident_mb() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20


def call_size_cost(bundle_dir: Path, batch: int, repeats: int) -> None:
    """Pixels per engine call × memory arena, each in its own process (memory is per process)."""
    click.echo(f"\n| pixels per call | memory arena | purify batch {batch}, {HEADER} | "
               "memory added, MB |\n| --- | --- | --- | --- |")
    for exponent in (12, 14, 16, 18):
        for arena in (False, True):
            code = (f"from matt.bench.tune import probe_call_size; probe_call_size("
                    f"{str(bundle_dir)!r}, {1 << exponent}, {arena}, {batch}, {repeats})")
            result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, check=True)
            timing, memory = result.stdout.strip().splitlines()[-1].split("|")
            click.echo(f"| 2^{exponent} | {'on' if arena else 'off'} | {timing} | {memory} |")


def make_stand_in(folder: Path) -> tuple[Path, Path]:
    """A random-init ``weights.pt`` and bundle shaped like the shipped CIFAR-10 one: 12
    purifiers alternating EDSR / RCAN (32 features, 2 blocks, decoder 64), patch 8, halo =
    the largest receptive radius, a ResNet classifier of width 16. Speed does not depend on
    the weights. Made once; later calls reuse it."""
    weights_path, bundle_dir = folder / "weights.pt", folder / "bundle"
    if bundle_dir.is_dir():
        return weights_path, bundle_dir
    import torch

    from matt.export import export_bundle
    from matt.formats.weights import PoolMember, TilingDefaults, WeightsFile, save_weights
    from matt.models import ClassifierSpec, PurifierSpec, build_classifier, build_purifier

    torch.manual_seed(0)
    specs = [PurifierSpec(encoder=name, features=32, blocks=2, decoder_widths=(64,))
             for name in ("edsr", "rcan")]
    pool = [build_purifier(specs[i % 2]).eval() for i in range(12)]
    classifier_spec = ClassifierSpec("resnet", num_classes=10, channels=3, width=16, blocks=1)
    classifier = build_classifier(classifier_spec).eval()
    weights = WeightsFile(
        dataset="cifar10", input_shape=(3, 32, 32),
        class_names=tuple(f"class{i}" for i in range(10)),
        tiling=TilingDefaults(patch=8, halo=max(spec.receptive_radius for spec in specs)),
        classifier_spec=classifier_spec, classifier_state=classifier.state_dict(),
        pool=[PoolMember(f"p{i}", p.spec, p.state_dict()) for i, p in enumerate(pool)],
        provenance={"data": "random init (runtime timing stand-in)"})
    save_weights(weights, weights_path)
    export_bundle(weights_path, bundle_dir)
    return weights_path, bundle_dir


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("bundle_dir", required=False,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the weights.pt of the bundle: also time the torch reference")
@click.option("--stand-in", type=click.Path(file_okay=False, path_type=Path),
              help="make (once) and time a random-init stand-in of the shipped bundle's shape "
                   "in this folder, instead of BUNDLE_DIR")
@click.option("--batch", default=64, show_default=True, help="the large batch")
@click.option("--repeats", default=15, show_default=True, help="timed calls per figure")
@click.option("--skip-settings", is_flag=True,
              help="skip the session-settings and call-size grids")
def tune(bundle_dir: Path | None, weights: Path | None, stand_in: Path | None, batch: int,
         repeats: int, skip_settings: bool) -> None:
    """Time the runtime's choices for BUNDLE_DIR on this CPU."""
    if stand_in is not None:
        weights, bundle_dir = make_stand_in(stand_in)
    if bundle_dir is None:
        raise click.UsageError("give BUNDLE_DIR or --stand-in FOLDER")
    click.echo(f"cpus: {os.cpu_count()}; onnxruntime {onnxruntime.__version__}")
    if not skip_settings:
        tune_settings(bundle_dir, (1, batch), repeats)
    pool_size_cost(bundle_dir, (1, batch), repeats)
    if not skip_settings:
        call_size_cost(bundle_dir, batch, repeats)
    if weights is not None:
        against_torch(bundle_dir, weights, batch, repeats)


if __name__ == "__main__":
    run_cli(tune)
