"""``weights.pt`` → bundle folder: ONNX files, parity, INT8 variants, engines, manifest.

The bundle is assembled in a temporary folder beside the target and renamed into place only
when every step passed and the result verifies, so a failed export leaves nothing behind.
Steps, in order: load the weights; check that the requested engines can be built here (before
any work); export ONNX; check parity against torch on real images; fuse the purifiers into
one graph (:mod:`matt.export.fused`); quantize to INT8 (:mod:`matt.calibration`) and fuse the
INT8 graphs; build TensorRT engines; write and verify the manifest.
"""

from __future__ import annotations

import datetime
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from torch import nn

from matt import __version__
from matt.calibration.datasets import ImageSet, evaluation_images
from matt.errors import ExportError, InputError
from matt.export.onnx import (
    DEFAULT_OPSET,
    ClassifierWithSoftmax,
    export_classifier,
    export_purifier,
)
from matt.export.options import ExportOptions
from matt.formats.bundle import MANIFEST, Manifest, ModelFile, load_bundle, sha256_file
from matt.formats.weights import WeightsFile, git_revision, load_weights
from matt.models import macs_per_pixel, receptive_radius

Echo = Callable[[str], None]


def _quiet(_line: str) -> None:
    """The default progress sink: library calls print nothing."""


def _parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def write_bundle(weights: WeightsFile, out_dir: Path, *, opset: int = DEFAULT_OPSET,
                 export_info: dict | None = None, echo: Echo = _quiet) -> Manifest:
    """Export every model of ``weights`` into ``out_dir`` (which must not exist yet)."""
    channels = weights.input_shape[0]
    (out_dir / "purifiers").mkdir(parents=True)
    purifiers = []
    for member, module in zip(weights.pool, weights.build_pool(), strict=True):
        relative = f"purifiers/{member.name}.onnx"
        echo(f"  onnx: {member.name} ({member.spec.name})")
        export_purifier(module, channels, out_dir / relative, opset)
        purifiers.append(ModelFile(
            name=member.name, file=relative, sha256=sha256_file(out_dir / relative),
            spec=member.spec.to_dict(), parameters=_parameters(module),
            macs_per_pixel=macs_per_pixel(module), receptive_radius=receptive_radius(module),
            provenance=dict(member.provenance),
        ))
    classifier = weights.build_classifier()
    echo(f"  onnx: classifier ({weights.classifier_spec.arch})")
    export_classifier(classifier, weights.input_shape, out_dir / "classifier.onnx", opset)
    classifier_file = ModelFile(
        name="classifier", file="classifier.onnx",
        sha256=sha256_file(out_dir / "classifier.onnx"), spec=weights.classifier_spec.to_dict(),
        parameters=_parameters(classifier), macs_per_pixel=macs_per_pixel(classifier),
    )
    manifest = Manifest(
        dataset=weights.dataset, input_shape=weights.input_shape,
        class_names=weights.class_names, patch=weights.tiling.patch, halo=weights.tiling.halo,
        purifiers=tuple(purifiers), classifier=classifier_file,
        export={"matt_version": __version__, "opset": opset, "git_revision": git_revision(),
                "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                **(export_info or {})},
    )
    (out_dir / MANIFEST).write_text(manifest.to_json())
    return manifest


def select_members(weights: WeightsFile, members: tuple[str, ...]) -> WeightsFile:
    """``weights`` with only the named pool members (all of them when ``members`` is empty)."""
    if not members:
        return weights
    known = [member.name for member in weights.pool]
    unknown = [name for name in members if name not in known]
    if unknown:
        raise InputError(f"no pool member named {', '.join(unknown)}; the pool has "
                         f"{', '.join(known)}")
    return replace(weights, pool=[m for m in weights.pool if m.name in members])


def _parity(root: Path, manifest: Manifest, weights: WeightsFile, images: ImageSet,
            tolerance: float, echo: Echo) -> Manifest:
    from matt.calibration.quality import ort_runner
    from matt.export.parity import check_parity

    models = (*manifest.purifiers, manifest.classifier)
    onnx_runs = {model.name: ort_runner(root / model.file) for model in models}
    modules: dict[str, nn.Module] = dict(zip((m.name for m in weights.pool),
                                             weights.build_pool(), strict=True))
    modules["classifier"] = ClassifierWithSoftmax(weights.build_classifier()).eval()
    echo(f"  parity: {len(images)} images ({images.source})")
    parity = check_parity(manifest, onnx_runs, modules, images, tolerance)
    return replace(manifest, parity=parity)


def _int8(root: Path, manifest: Manifest, calibration: ImageSet, evaluation: ImageSet,
          options: ExportOptions, echo: Echo) -> Manifest:
    from matt.calibration import CPU_INT8, TENSORRT_INT8, quantize_bundle

    if not calibration.real:
        echo(f"  warning: INT8 calibration on {calibration.source}")
    echo(f"  int8: calibrating on {calibration.source}")
    return quantize_bundle(root, manifest, calibration, evaluation,
                           schemes=(CPU_INT8, TENSORRT_INT8), seed=options.seed, echo=echo)


def _fused(root: Path, manifest: Manifest, variant: str, echo: Echo) -> Manifest:
    from matt.core import PatchPlan
    from matt.export.fused import add_fused

    missing = [m.name for m in manifest.purifiers
               if variant != "fp32" and variant not in m.variants]
    if missing:  # the runtime runs no int8 pool without every member's int8 graph either
        echo(f"  fused: no {variant} graph (none for {', '.join(missing)})")
        return manifest
    channels, height, width = manifest.input_shape
    window = PatchPlan.for_patch(height, width, manifest.patch, manifest.halo).window_shape
    echo(f"  fused: {len(manifest.purifiers)} purifiers in one {variant} graph")
    return add_fused(root, manifest, variant, (channels, *window))


def export_bundle(weights_path: str | Path, out_dir: str | Path, *, opset: int | None = None,
                  force: bool = False, options: ExportOptions | None = None,
                  echo: Echo = _quiet) -> Path:
    """Export a ``weights.pt`` into a verified bundle folder at ``out_dir``.

    Args:
        weights_path: the ``weights.pt`` to export.
        out_dir: the bundle folder to create.
        opset: ONNX opset; overrides ``options.opset`` when given.
        force: replace ``out_dir`` if it exists.
        options: precision, engines, calibration, parity; the defaults export FP32 ONNX only.
        echo: receives one progress line per step.

    Raises:
        WeightsError: the weights file is missing, foreign, truncated or tampered.
        ExportError: ``out_dir`` exists without ``force``, parity failed, or a step failed.
        BackendUnavailable: TensorRT engines were asked for where they cannot be built.
    """
    options = options or ExportOptions()
    if opset is not None:
        options = replace(options, opset=opset)
    weights_path, out_dir = Path(weights_path), Path(out_dir)
    weights = select_members(load_weights(weights_path), options.members)
    _check_target(out_dir, force)
    target = None
    if options.tensorrt:
        from matt.export.tensorrt import probe_tensorrt

        target = probe_tensorrt(options.precision)
    calibration = None
    if options.int8:
        from matt.calibration import load_calibration_source

        calibration = load_calibration_source(options.calibration, weights.dataset,
                                              weights.input_shape, options.calibration_images,
                                              options.seed)
    echo(f"exporting {weights_path} → {out_dir}")
    created = [p for p in (out_dir.parent, *out_dir.parent.parents) if not p.exists()]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    done = False
    try:
        root = staging / "bundle"
        info = {"weights_sha256": sha256_file(weights_path), "weights_file": weights_path.name,
                "precision": options.precision, "engine": options.engine}
        manifest = write_bundle(weights, root, opset=options.opset, export_info=info, echo=echo)
        images = evaluation_images(weights.dataset, weights.input_shape, options.check_images)
        if not images.real:
            echo(f"  warning: parity runs on {images.source}")
        manifest = _parity(root, manifest, weights, images, options.tolerance, echo)
        if options.fused:
            manifest = _fused(root, manifest, "fp32", echo)
        if calibration is not None:
            manifest = _int8(root, manifest, calibration, images, options, echo)
            if options.fused:
                manifest = _fused(root, manifest, "int8", echo)
        if target is not None:
            from matt.export.engines import build_engines

            manifest = build_engines(root, manifest, options, target, echo)
        (root / MANIFEST).write_text(manifest.to_json())
        load_bundle(root)
        _replace_folder(root, out_dir, staging / "previous")
        done = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created if not done else ():
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return out_dir


def _check_target(out_dir: Path, force: bool) -> None:
    """Refuse an existing ``out_dir`` without ``force``, and anything but a bundle with it."""
    if not out_dir.exists():
        return
    if not force:
        raise ExportError(f"{out_dir}: already exists; pass --force to replace it")
    if not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file()):
        raise ExportError(f"{out_dir}: exists and is not a bundle; --force only replaces a "
                          "bundle folder, pick another -o")


def _replace_folder(new: Path, target: Path, parking: Path) -> None:
    """Move ``new`` to ``target``; an existing ``target`` is parked first, then dropped."""
    if target.exists():
        target.rename(parking)
    try:
        new.rename(target)
    except OSError as error:
        if parking.exists():
            parking.rename(target)
        raise ExportError(f"{target}: could not move the bundle into place ({error})") from None
