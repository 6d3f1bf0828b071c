"""A small Fashion-MNIST CNN fitted in about a second, and targets over it.

Attacks need a classifier whose accuracy means something; a random network does not give one.
While a test needs a ``weights.pt`` holding the CNN, :func:`tiny_arch_registered` registers it
as classifier arch ``test-tiny-cnn`` (and removes it afterwards).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from matt.models import CLASSIFIERS, ClassifierSpec

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
TINY_ARCH = "test-tiny-cnn"


class TinyCnn(nn.Module):
    """One strided 5×5 convolution and a linear head: 28×28 grey → 10 logits."""

    def __init__(self, spec: ClassifierSpec) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(spec.channels, spec.width, 5, stride=2),
                                      nn.ReLU(), nn.Flatten())
        self.head = nn.Linear(spec.width * 12 * 12, spec.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


TINY_SPEC = ClassifierSpec(TINY_ARCH, num_classes=10, channels=1, width=8, blocks=1)


def needs_fashion_mnist() -> None:
    if not FASHION_MNIST.is_dir():
        pytest.skip("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)")


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Batch-1 queries are far slower with several torch threads on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.cache
def fitted_tiny_cnn() -> TinyCnn:
    """The CNN fitted for two epochs on 8000 training images (about 83 % test accuracy)."""
    from matt.data import load_fashion_mnist

    train = load_fashion_mnist("train")
    images = torch.from_numpy(train.images[:8000])
    labels = torch.from_numpy(train.labels[:8000])
    with one_thread():
        torch.manual_seed(0)
        model = TinyCnn(TINY_SPEC)
        optimizer = torch.optim.Adam(model.parameters(), 3e-3)
        for _ in range(2):
            for start in range(0, len(images), 100):
                loss = nn.functional.cross_entropy(model(images[start:start + 100]),
                                                   labels[start:start + 100])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return model.eval()


class CnnTarget:
    """The fitted CNN as a deterministic target that records every image it is asked about."""

    name = "tiny-cnn"
    randomized = False
    num_classes = 10

    def __init__(self, model: nn.Module, noise: float = 0.0, seed: int = 0) -> None:
        self.model = model
        self.noise = noise
        self.randomized = noise > 0
        self.generator = np.random.default_rng(seed)
        self.seen: list[np.ndarray] = []

    def predict(self, images: np.ndarray) -> np.ndarray:
        self.seen.extend(images.copy())
        batch = images
        if self.noise:
            batch = np.clip(images + self.noise * self.generator.standard_normal(images.shape),
                            0, 1).astype(np.float32)
        with torch.inference_mode():
            return torch.softmax(self.model(torch.from_numpy(batch)), dim=1).numpy()


@pytest.fixture(autouse=True)
def one_torch_thread():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def tiny_arch_registered() -> Iterator[None]:
    """The tiny CNN as a registered classifier arch, for the session's weights files only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(CLASSIFIERS._builders, TINY_ARCH, TinyCnn)
        yield


@pytest.fixture(scope="session")
def tiny_cnn() -> TinyCnn:
    needs_fashion_mnist()
    return fitted_tiny_cnn()


@pytest.fixture(scope="session")
def correct_images(tiny_cnn) -> tuple[np.ndarray, np.ndarray]:
    """The first 12 test images the CNN classifies right."""
    from matt.data import load_fashion_mnist

    test = load_fashion_mnist("test")
    target = CnnTarget(tiny_cnn)
    right = np.flatnonzero(target.predict(test.images[:80]).argmax(1) == test.labels[:80])[:12]
    return test.images[right], test.labels[right]
