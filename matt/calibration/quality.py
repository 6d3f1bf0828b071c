"""What INT8 costs: purified-image PSNR and classifier accuracy of each INT8 model against FP32.

Everything runs in ONNX Runtime on the bundle's files, as deployed: each image is cut into the
bundle's windows (patch + 2·halo), purified by one purifier, stitched, and classified by the
FP32 classifier, so a purifier's figures isolate its own quantization.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from matt.calibration.datasets import ImageSet
from matt.core import PatchPlan, extract_windows, stitch_windows

WINDOWS_PER_CALL = 1024
Run = Callable[[np.ndarray], np.ndarray]


def ort_runner(path: Path, threads: int | None = None) -> Run:
    """An ONNX Runtime CPU session of one model as a function of its single input."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: np.ascontiguousarray(batch)})[0]

    return run


def purify_patchwise(purify: Run, images: np.ndarray, patch: int, halo: int) -> np.ndarray:
    """Purify ``images`` window by window with one purifier, as the runtime does with K = 1."""
    plan = PatchPlan.for_patch(images.shape[2], images.shape[3], patch, halo)
    windows = extract_windows(images, plan)
    purified = np.concatenate([purify(windows[start: start + WINDOWS_PER_CALL])
                               for start in range(0, len(windows), WINDOWS_PER_CALL)])
    return stitch_windows(purified, plan, len(images))


def purify_as_deployed(purify: Run, images: np.ndarray, patch: int, halo: int,
                       receptive_radius: int) -> np.ndarray:
    """What the runtime's patch-wise purification with this one purifier gives.

    With ``halo >= receptive_radius`` that equals purifying the whole image padded by ``halo``
    (edge replication) and cropping: the same numbers for a fraction of the pixels, since the
    windows overlap by 2·halo. Otherwise the windows are purified one by one.
    """
    if halo < receptive_radius:
        return purify_patchwise(purify, images, patch, halo)
    padded = np.pad(images, ((0, 0), (0, 0), (halo, halo), (halo, halo)), mode="edge")
    purified = np.concatenate([purify(padded[s: s + 64]) for s in range(0, len(padded), 64)])
    return purified[:, :, halo: halo + images.shape[2], halo: halo + images.shape[3]]


def psnr_db(reference: np.ndarray, other: np.ndarray) -> float | None:
    """Peak signal-to-noise ratio for images in [0, 1]; ``None`` where they are identical."""
    mse = float(np.mean((reference.astype(np.float64) - other.astype(np.float64)) ** 2))
    return None if mse == 0 else round(10 * math.log10(1 / mse), 2)


def _classify(classify: Run, images: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([classify(images[s: s + batch]).argmax(axis=1)
                           for s in range(0, len(images), batch)])


def _accuracy(predicted: np.ndarray, images: ImageSet) -> float | None:
    mask = images.labelled
    return round(float((predicted[mask] == images.labels[mask]).mean()), 4) if mask.any() else None


def _change(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else round(after - before, 4)


def purifier_quality(purify_fp32: Run, purify_int8: Run, classify: Run, images: ImageSet,
                     patch: int, halo: int, receptive_radius: int) -> dict[str, Any]:
    """PSNR and accuracy of one purifier's INT8 variant against its FP32 graph.

    Returns:
        ``psnr_int8_vs_fp32_db`` (how close the INT8 output is to the FP32 output),
        ``psnr_fp32_db`` / ``psnr_int8_db`` (purified image against the input) and their
        ``psnr_change_db``, ``accuracy_fp32`` / ``accuracy_int8`` / ``accuracy_change`` on the
        labelled images (``None`` without labels), and ``agreement``: the share of images whose
        predicted class is the same after either purification.
    """
    fp32 = purify_as_deployed(purify_fp32, images.images, patch, halo, receptive_radius)
    int8 = purify_as_deployed(purify_int8, images.images, patch, halo, receptive_radius)
    labels_fp32, labels_int8 = _classify(classify, fp32), _classify(classify, int8)
    psnr_fp32, psnr_int8 = psnr_db(images.images, fp32), psnr_db(images.images, int8)
    accuracy_fp32, accuracy_int8 = _accuracy(labels_fp32, images), _accuracy(labels_int8, images)
    return {
        "psnr_int8_vs_fp32_db": psnr_db(fp32, int8),
        "psnr_fp32_db": psnr_fp32, "psnr_int8_db": psnr_int8,
        "psnr_change_db": _change(psnr_int8, psnr_fp32),
        "accuracy_fp32": accuracy_fp32, "accuracy_int8": accuracy_int8,
        "accuracy_change": _change(accuracy_int8, accuracy_fp32),
        "agreement": round(float((labels_fp32 == labels_int8).mean()), 4),
        "images": len(images), "labelled": int(images.labelled.sum()),
    }


def classifier_quality(classify_fp32: Run, classify_int8: Run, images: ImageSet) -> dict[str, Any]:
    """Clean accuracy of the INT8 classifier against FP32, and how often they agree."""
    labels_fp32 = _classify(classify_fp32, images.images)
    labels_int8 = _classify(classify_int8, images.images)
    probabilities_fp32 = classify_fp32(images.images[:256])
    probabilities_int8 = classify_int8(images.images[:256])
    accuracy_fp32, accuracy_int8 = _accuracy(labels_fp32, images), _accuracy(labels_int8, images)
    return {
        "max_abs_probability_diff": round(float(np.abs(probabilities_fp32
                                                       - probabilities_int8).max()), 6),
        "accuracy_fp32": accuracy_fp32, "accuracy_int8": accuracy_int8,
        "accuracy_change": _change(accuracy_int8, accuracy_fp32),
        "agreement": round(float((labels_fp32 == labels_int8).mean()), 4),
        "images": len(images), "labelled": int(images.labelled.sum()),
    }
