"""The evaluation images: the paper's balanced subset of correctly classified test images.

``fmnist``: Fashion-MNIST's test split, ``n`` images the undefended classifier gets right,
balanced over the ten classes and interleaved class by class, so that any prefix (a partial,
resumed run) is balanced too. ``cifar10``: CIFAR-10 is not reachable offline; the 20 real test
images shipped in foolbox (those classified right), then crops of the held-out photographs
(never used to train a purifier) that the undefended classifier labels with softmax confidence
>= ``CROP_CONFIDENCE``, its label taken as the truth (for them, "robust" means "answer
unchanged").
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from matt.attacks.threat import dataset_key
from matt.errors import DataError, InputError
from matt.evaluation.subject import EvalSubject

CROP_CONFIDENCE = 0.9


@dataclass(frozen=True)
class EvalSet:
    """Images (N, C, H, W) float32 in [0, 1], labels (N,) int64, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    description: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def fingerprint(self) -> str:
        """A short hash of the pixels and labels: a checkpoint resumes only on the same set."""
        digest = hashlib.sha256(self.images.tobytes())
        digest.update(self.labels.tobytes())
        return digest.hexdigest()[:16]


def evaluation_set(subject: EvalSubject, predict: object, n_images: int,
                   seed: int) -> EvalSet:
    """``n_images`` correctly classified images for ``subject``'s dataset.

    Args:
        predict: the undefended classifier, images → probabilities (a target's ``predict``).
        seed: fixes which images are chosen (the same set whatever the attack seed).
    """
    if n_images < 1:
        raise InputError(f"--n-images must be >= 1, got {n_images}")
    key = dataset_key(subject.dataset)
    if key == "fmnist":
        return _fashion_mnist(predict, n_images, seed)
    if key == "cifar10":
        return _cifar10(subject, predict, n_images, seed)
    if key == "imagenet":
        from matt.evaluation.imagenet_set import imagenet_set

        return EvalSet(*imagenet_set(predict, n_images))
    raise InputError(f"no evaluation set for dataset {subject.dataset!r}; known: fmnist, cifar10")


def clean_test_set(subject: EvalSubject, n_images: int) -> EvalSet:
    """The first ``n_images`` labelled test images, unfiltered (clean accuracy, Figure 11)."""
    key = dataset_key(subject.dataset)
    if key == "fmnist":
        from matt.data import load_fashion_mnist

        test = load_fashion_mnist("test")
        count = min(n_images, len(test))
        return EvalSet(test.images[:count], test.labels[:count],
                       f"Fashion-MNIST test images 0..{count - 1}")
    if key == "cifar10":
        from matt.data import load_foolbox_samples

        samples = load_foolbox_samples("cifar10")
        return EvalSet(samples.images, samples.labels,
                       f"the {len(samples)} CIFAR-10 test images shipped in foolbox")
    if key == "imagenet":
        from matt.evaluation.imagenet_set import imagenet_test_set

        return EvalSet(*imagenet_test_set())
    raise InputError(f"no test set for dataset {subject.dataset!r}; known: fmnist, cifar10")


def _fashion_mnist(predict: object, n_images: int, seed: int) -> EvalSet:
    from matt.data import balanced_correct_subset, load_fashion_mnist

    test = load_fashion_mnist("test")
    classes = len(test.class_names) or int(test.labels.max()) + 1
    per_class = math.ceil(n_images / classes)
    chosen = balanced_correct_subset(test.images, test.labels, predict,  # type: ignore[arg-type]
                                     per_class, seed=seed)
    by_class = chosen.reshape(classes, per_class)
    interleaved = by_class.T.reshape(-1)[:n_images]
    return EvalSet(test.images[interleaved], test.labels[interleaved],
                   f"Fashion-MNIST test: {n_images} correctly classified images, balanced and "
                   f"interleaved over {classes} classes (selection seed {seed})")


def _cifar10(subject: EvalSubject, predict: object, n_images: int, seed: int) -> EvalSet:
    from matt.data import load_foolbox_samples, sample_natural_crops

    samples = load_foolbox_samples("cifar10")
    predicted = np.asarray(predict(samples.images)).argmax(axis=1)  # type: ignore[operator]
    correct = np.flatnonzero(predicted == samples.labels)
    images, labels = samples.images[correct][:n_images], samples.labels[correct][:n_images]
    crops_needed = n_images - len(labels)
    description = f"{len(labels)} real CIFAR-10 images (foolbox) classified right"
    if crops_needed > 0:
        from matt.data.natural_crops import photo_split

        held_photos = photo_split()[1]
        candidates = sample_natural_crops(8 * crops_needed, size=subject.input_shape[1],
                                          seed=seed, photo_names=held_photos)
        answers = np.asarray(predict(candidates))  # type: ignore[operator]
        confident = np.flatnonzero(answers.max(axis=1) >= CROP_CONFIDENCE)[:crops_needed]
        if len(confident) < crops_needed:
            raise DataError(f"only {len(confident)} of {len(candidates)} crops reach "
                            f"confidence {CROP_CONFIDENCE}; ask for fewer --n-images")
        images = np.concatenate([images, candidates[confident]]).astype(np.float32)
        labels = np.concatenate([labels, answers[confident].argmax(axis=1)]).astype(np.int64)
        description += (f" + {crops_needed} crops of {len(held_photos)} held-out photographs "
                        f"labelled by the undefended classifier with confidence >= "
                        f"{CROP_CONFIDENCE} (seed {seed})")
    if len(labels) == 0:
        raise DataError("no evaluation images: the classifier got every foolbox sample wrong")
    return EvalSet(images, labels, description)
