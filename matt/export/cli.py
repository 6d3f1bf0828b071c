"""``matt-export WEIGHTS``: a ``weights.pt`` (or a shipped name) → a verified bundle folder."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click

from matt.cli.options import output_option, seed_option
from matt.cli_common import matt_command, run_cli
from matt.errors import WeightsError
from matt.export.onnx import DEFAULT_OPSET
from matt.export.options import ENGINES, PRECISIONS, ExportOptions

DEFAULT_BUNDLES_DIR = Path("bundles")


def resolve_weights(weights: str) -> Path:
    """A path to a ``weights.pt``, or the name of a shipped one (``cifar10``, ``fmnist``, ...)."""
    path = Path(weights)
    if path.exists() or path.suffix or "/" in weights:
        return path
    from matt.assets import shipped_weights

    try:
        return shipped_weights(weights)
    except WeightsError as error:
        raise WeightsError(f"{weights}: no such weights file, and {error}") from None


def default_bundle_dir(weights_path: Path) -> Path:
    """``bundles/<weights stem>`` under the current folder, e.g. ``bundles/cifar10``."""
    return DEFAULT_BUNDLES_DIR / weights_path.stem


@matt_command("matt-export")
@click.argument("weights")
@output_option("bundle folder to create", shown="bundles/<weights name>")
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True,
              help="ONNX opset of the graphs.")
@click.option("--engine", type=click.Choice(ENGINES), default="none", show_default=True,
              help="Also build TensorRT engines (needs TensorRT 10 and a CUDA GPU).")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
              help="int8: add Q/DQ INT8 variants (and INT8 engines with --engine tensorrt); "
                   "fp16: FP16 engines (--engine tensorrt only).")
@click.option("--calibration", default="auto", show_default=True, metavar="SOURCE",
              help="INT8 calibration images: auto (the bundle's dataset), random, a .npy array, "
                   "a CIFAR-10 python folder or an image folder.")
@click.option("--calibration-images", type=int, default=256, show_default=True,
              help="Images drawn for INT8 calibration.")
@click.option("--check-images", type=int, default=64, show_default=True,
              help="Real images for the parity check and the INT8 quality figures.")
@click.option("--pool", "members", default="", metavar="NAMES",
              help="Comma-separated pool members to export [default: all].")
@click.option("--max-images", type=int, default=64, show_default=True,
              help="TensorRT: largest request batch, in images, the engines accept.")
@click.option("--opt-images", type=int, default=16, show_default=True,
              help="TensorRT: request batch, in images, the engines are tuned for.")
@click.option("--timing-cache", type=click.Path(path_type=Path),
              help="TensorRT timing cache file [default: ~/.cache/matt/tensorrt.timing-cache].")
@seed_option(0)
@click.option("--fused/--no-fused", default=True, show_default=True,
              help="Also write every purifier in one graph (one runtime call per query).")
@click.option("--force", is_flag=True, help="Replace the output bundle if it exists.")
def cmd(weights: str, output: Path | None, opset: int, engine: str, precision: str,
        calibration: str, calibration_images: int, check_images: int, members: str,
        max_images: int, opt_images: int, timing_cache: Path | None, seed: int,
        fused: bool, force: bool) -> None:
    """Export WEIGHTS (a weights.pt path, or a shipped name: cifar10, fmnist, fmnist-at) to a
    bundle: ONNX graphs checked against torch on real images, a manifest with checksums, and
    optionally INT8 variants and TensorRT engines."""
    from matt.export.bundle_writer import export_bundle
    from matt.export.summary import summary_text
    from matt.formats.bundle import load_bundle

    options = ExportOptions(
        opset=opset, engine=engine, precision=precision, calibration=calibration,
        calibration_images=calibration_images, check_images=check_images,
        members=tuple(name.strip() for name in members.split(",") if name.strip()),
        max_images=max_images, opt_images=opt_images, timing_cache=timing_cache, seed=seed,
        fused=fused,
    )
    weights_path = resolve_weights(weights)
    out_dir = output or default_bundle_dir(weights_path)
    export_bundle(weights_path, out_dir, force=force, options=options, echo=click.echo)
    click.echo(summary_text(out_dir, load_bundle(out_dir).manifest))


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the export removes its staging folder on the way out."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    run_cli(cmd)
