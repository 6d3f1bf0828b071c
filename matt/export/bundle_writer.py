"""``weights.pt`` → bundle folder: ONNX files, checksums, manifest; written atomically.

The bundle is assembled in a temporary folder beside the target and renamed into place only
when complete, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import datetime
import shutil
import tempfile
from pathlib import Path

from matt import __version__
from matt.bundle import MANIFEST, Manifest, ModelFile, load_bundle, sha256_file
from matt.errors import ExportError
from matt.export.onnx import DEFAULT_OPSET, export_classifier, export_purifier
from matt.models import macs_per_pixel, receptive_radius
from matt.training.weights import WeightsFile, git_revision, load_weights


def _parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


def write_bundle(weights: WeightsFile, out_dir: Path, *, opset: int = DEFAULT_OPSET,
                 export_info: dict | None = None) -> Manifest:
    """Export every model of ``weights`` into ``out_dir`` (which must not exist yet)."""
    channels = weights.input_shape[0]
    (out_dir / "purifiers").mkdir(parents=True)
    purifiers = []
    for member, module in zip(weights.pool, weights.build_pool(), strict=True):
        relative = f"purifiers/{member.name}.onnx"
        export_purifier(module, channels, out_dir / relative, opset)
        purifiers.append(ModelFile(
            name=member.name, file=relative, sha256=sha256_file(out_dir / relative),
            spec=member.spec.to_dict(), parameters=_parameters(module),
            macs_per_pixel=macs_per_pixel(module), receptive_radius=receptive_radius(module),
            provenance=dict(member.provenance),
        ))
    classifier = weights.build_classifier()
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


def export_bundle(weights_path: str | Path, out_dir: str | Path, *, opset: int = DEFAULT_OPSET,
                  force: bool = False) -> Path:
    """Export a ``weights.pt`` into a verified bundle folder at ``out_dir``.

    Raises:
        ExportError: ``out_dir`` exists and ``force`` is not set, or a step failed.
    """
    weights_path, out_dir = Path(weights_path), Path(out_dir)
    weights = load_weights(weights_path)
    if out_dir.exists() and not force:
        raise ExportError(f"{out_dir}: already exists; pass --force to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        info = {"weights_sha256": sha256_file(weights_path), "weights_file": weights_path.name}
        write_bundle(weights, staging / "bundle", opset=opset, export_info=info)
        load_bundle(staging / "bundle")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        (staging / "bundle").rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir
