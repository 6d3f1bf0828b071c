"""Clean accuracy of the INT8 bundle against the FP32 one: the price of INT8's speed.

Both pipelines use the trained members only, the same seed (so the same purifier per patch)
and the same clean test images; the difference is the quantization alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from matt.bench.subjects import Subject
from matt.errors import MattError

BATCH = 64


def clean_images(dataset: str, count: int, data_dir: str | None) -> tuple[Any, str]:
    """The first ``count`` test images of ``dataset`` and a description of where they are from."""
    from matt.data import load_cifar10, load_fashion_mnist, load_foolbox_samples

    if dataset == "fmnist":
        data = load_fashion_mnist("test", data_dir)
        source = "Fashion-MNIST test split"
    elif dataset == "cifar10" and data_dir is not None:
        data = load_cifar10(data_dir, "test")
        source = f"CIFAR-10 test split ({data_dir})"
    elif dataset == "cifar10":
        data = load_foolbox_samples("cifar10")
        source = "the 20 CIFAR-10 test images inside foolbox (pass --data-dir for more)"
    elif dataset == "imagenet":
        data = load_foolbox_samples("imagenet", size=224)
        source = "the 20 ImageNet images inside foolbox, resized to 224² bicubic"
    else:
        raise MattError(f"no clean test set known for dataset {dataset!r}")
    picked = data.subset(np.arange(min(count, len(data))))
    return picked, f"first {len(picked)} images of {source}"


def _accuracy(pipeline: Any, images: np.ndarray, labels: np.ndarray) -> float:
    correct = 0
    for start in range(0, len(labels), BATCH):
        probabilities = pipeline.predict(images[start:start + BATCH])
        correct += int((probabilities.argmax(axis=1) == labels[start:start + BATCH]).sum())
    return correct / len(labels)


def int8_accuracy(bundle_dir: Path, subject: Subject, count: int,
                  data_dir: str | None) -> dict[str, Any]:
    """FP32 and INT8 clean accuracy (fractions) and the loss in points, or why not measured."""
    trained = int(subject.source.get("trained_members", 0))
    if trained == 0:
        return {"measured": False,
                "reason": "the subject has random-init stand-in weights: accuracy means nothing"}
    if count == 0:
        return {"measured": False, "reason": "--accuracy-images 0"}
    from matt.runtime import Pipeline

    try:
        data, source = clean_images(subject.weights.dataset, count, data_dir)
        results = {}
        for precision in ("fp32", "int8"):
            with Pipeline.load(bundle_dir, backend="onnxruntime", device="cpu", pool=trained,
                               seed=0, precision=precision) as pipeline:
                results[precision] = _accuracy(pipeline, data.images, data.labels)
    except MattError as exc:
        return {"measured": False, "reason": str(exc)}
    return {"measured": True, "images": len(data), "data": source,
            "pool": f"the {trained} trained members, seed 0 for both",
            "fp32_accuracy": results["fp32"], "int8_accuracy": results["int8"],
            "loss_points": round(100 * (results["fp32"] - results["int8"]), 3),
            "resolution_points": round(100 / len(data), 3)}
