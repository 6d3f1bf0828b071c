"""Quantize every model of a bundle folder to INT8 and record the variants and their quality.

Works on the bundle's files only (ONNX Runtime, numpy), so it runs on a bundle exported earlier
as well as inside ``matt-export``. Each purifier is calibrated on the windows it will see at
serving time (the bundle's patch + 2·halo cut from calibration images); the classifier on whole
images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from matt.calibration.datasets import ImageSet
from matt.calibration.quality import classifier_quality, ort_runner, purifier_quality
from matt.calibration.quantize import CPU_INT8, QuantScheme, quantize_onnx
from matt.core import PatchPlan, extract_windows
from matt.formats.bundle import Manifest, ModelFile, parse_variant, sha256_file

CALIBRATION_BATCH = 256
MIN_AGREEMENT = 0.95
MAX_CALIBRATION_WINDOWS = 1024
Echo = Callable[[str], None]


def variant_file(file: str, variant: str) -> str:
    """``purifiers/p0.onnx`` → ``purifiers/p0.int8.onnx``: a variant's file beside its model."""
    stem = file.removesuffix(".onnx")
    return f"{stem}.{variant}.onnx"


def window_batches(images: np.ndarray, patch: int, halo: int, seed: int,
                   max_windows: int = MAX_CALIBRATION_WINDOWS,
                   batch: int = CALIBRATION_BATCH) -> list[np.ndarray]:
    """The purifier windows of ``images`` (at most ``max_windows``, drawn with ``seed``)."""
    plan = PatchPlan.for_patch(images.shape[2], images.shape[3], patch, halo)
    windows = extract_windows(images, plan)
    if len(windows) > max_windows:
        chosen = np.random.default_rng(seed).choice(len(windows), max_windows, replace=False)
        windows = windows[np.sort(chosen)]
    return _batches(windows, batch)


def _batches(array: np.ndarray, batch: int) -> list[np.ndarray]:
    return [np.ascontiguousarray(array[s: s + batch]) for s in range(0, len(array), batch)]


def _quantized(root: Path, model: ModelFile, batches: Sequence[np.ndarray],
               scheme: QuantScheme) -> tuple[Path, dict[str, Any]]:
    relative = variant_file(model.file, scheme.variant)
    quantize_onnx(root / model.file, root / relative, batches, scheme)
    entry = {"file": relative, "sha256": sha256_file(root / relative), "precision": "int8",
             "quantization": scheme.describe()}
    return root / relative, entry


def _with_variant(model: ModelFile, variant: str, entry: dict[str, Any]) -> ModelFile:
    return replace(model, variants={**model.variants, variant: parse_variant(variant, entry)})


def quantize_bundle(root: Path, manifest: Manifest, calibration: ImageSet,
                    evaluation: ImageSet | None, *, schemes: Sequence[QuantScheme] = (CPU_INT8,),
                    seed: int = 0, echo: Echo | None = None) -> Manifest:
    """Write INT8 files of every model under ``root``; return the manifest listing them.

    Args:
        root: the bundle folder (its FP32 files are read, the INT8 files written beside them).
        manifest: the bundle's manifest as written so far.
        calibration: images to calibrate on.
        evaluation: held-out images for the quality figures of every variant (``None`` skips
            them).
        schemes: the quantization schemes to write; each adds one variant per model.
        seed: fixes which calibration windows are used.

    A variant whose predictions agree with FP32 on fewer than ``MIN_AGREEMENT`` of the
    evaluation images is deleted again and listed under ``export.calibration.rejected``: the
    runtime then uses that model's FP32 graph.
        echo: receives one progress line per model.
    """
    say = echo or (lambda _line: None)
    window_sets = window_batches(calibration.images, manifest.patch, manifest.halo, seed)
    image_sets = _batches(calibration.images, 64)
    classifier = manifest.classifier
    classify_fp32 = ort_runner(root / classifier.file)
    rejected: dict[str, str] = {}

    def keep(model: ModelFile, scheme: QuantScheme, path: Path, entry: dict[str, Any]) -> ModelFile:
        agreement = entry.get("quality", {}).get("agreement")
        if agreement is not None and agreement < MIN_AGREEMENT:
            path.unlink()
            rejected[f"{model.name}/{scheme.variant}"] = (
                f"agreement {agreement} < {MIN_AGREEMENT} with FP32; the FP32 graph is used")
            say(f"  warning: {model.name} {scheme.variant} dropped: predictions agree with FP32 "
                f"on only {agreement:.0%} of {evaluation.source if evaluation else ''}")
            return model
        return _with_variant(model, scheme.variant, entry)

    purifiers = []
    for model in manifest.purifiers:
        purify_fp32 = ort_runner(root / model.file)
        for scheme in schemes:
            path, entry = _quantized(root, model, window_sets, scheme)
            if evaluation is not None:
                entry["quality"] = purifier_quality(purify_fp32, ort_runner(path), classify_fp32,
                                                    evaluation, manifest.patch, manifest.halo,
                                                    model.receptive_radius)
                say(f"  {model.name}: {scheme.variant} {_quality_line(entry['quality'])}")
            model = keep(model, scheme, path, entry)
        purifiers.append(model)
    for scheme in schemes:
        path, entry = _quantized(root, classifier, image_sets, scheme)
        if evaluation is not None:
            entry["quality"] = classifier_quality(classify_fp32, ort_runner(path), evaluation)
            say(f"  classifier: {scheme.variant} accuracy change "
                f"{entry['quality']['accuracy_change']}, agreement {entry['quality']['agreement']}")
        classifier = keep(classifier, scheme, path, entry)
    calibration_info = {**calibration.describe(), "windows": int(sum(map(len, window_sets))),
                        "seed": seed, "min_agreement": MIN_AGREEMENT, "rejected": rejected}
    return replace(manifest, purifiers=tuple(purifiers), classifier=classifier,
                   export={**manifest.export, "calibration": calibration_info})


def _quality_line(quality: dict[str, Any]) -> str:
    return (f"PSNR vs fp32 {quality['psnr_int8_vs_fp32_db']} dB, PSNR change "
            f"{quality['psnr_change_db']} dB, accuracy change {quality['accuracy_change']}, "
            f"agreement {quality['agreement']}")
