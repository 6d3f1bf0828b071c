"""NES, ℓ∞ (Ilyas et al., ICML 2018), batched, and its EOT form.

Each iteration spends ``samples`` antithetic Gaussian probes x ± σu per image (the gradient
estimate of the margin loss) and one query on the iterate, which takes a signed step down the
estimate and is projected back into the ε-ball. Images are processed in groups whose probes
fill one target call of about ``rows_per_call`` rows. With EOT every probe and iterate is sent
M times and its answers averaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from matt.attacks.base import check_positive
from matt.attacks.batched.base import BatchedAttack
from matt.attacks.batched.counter import BatchCounter, batch_margins
from matt.attacks.threat import ThreatModel
from matt.errors import SpecError


@dataclass(frozen=True)
class BatchedNes(BatchedAttack):
    """Paper Table 4 (CIFAR-10): ``learning_rate`` 0.01, ``samples`` q = 100; ``sigma`` is
    Ilyas et al.'s search variance 0.001."""

    learning_rate: float = 0.01
    samples: int = 100
    sigma: float = 0.001
    rows_per_call: int = 4096

    name: ClassVar[str] = "nes"
    norm: ClassVar[str] = "linf"
    uses_scores: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("nes", learning_rate=self.learning_rate, sigma=self.sigma,
                       rows_per_call=self.rows_per_call)
        if not isinstance(self.samples, int) or self.samples < 2 or self.samples % 2:
            raise SpecError(f"nes: samples must be an even integer >= 2, got {self.samples!r}")

    def run_batch(self, counter: BatchCounter, *, threat: ThreatModel,
                  rng: np.random.Generator) -> None:
        group = max(1, self.rows_per_call // (self.samples * self.eot_samples))
        for start in range(0, len(counter.images), group):
            self._run_group(counter, np.arange(start, min(start + group, len(counter.images))),
                            threat, rng)

    def _run_group(self, counter: BatchCounter, owners: np.ndarray, threat: ThreatModel,
                   rng: np.random.Generator) -> None:
        originals, labels = counter.images, counter.labels
        iterates = originals[owners].copy()
        while True:
            todo = np.flatnonzero(counter.active[owners])
            if not len(todo):
                return
            images = owners[todo]
            gradients, complete = self._estimate(counter, images, iterates[todo], rng)
            stepped = iterates[todo] - self.learning_rate * np.sign(gradients)
            projected = np.stack([threat.project(stepped[i:i + 1], originals[image])[0]
                                  for i, image in enumerate(images)])
            iterates[todo[complete]] = projected[complete]
            if not complete.any():
                return
            probabilities, _ = self.averaged(counter, images[complete], projected[complete])
            counter.offer(images[complete], projected[complete],
                          batch_margins(probabilities, labels[images[complete]]))

    def _estimate(self, counter: BatchCounter, images: np.ndarray, points: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Gradient estimates (k, C, H, W) and whether every probe of an image was answered."""
        half = rng.standard_normal((len(images), self.samples // 2, *points.shape[1:]))
        directions = np.concatenate([half, -half], axis=1).astype(np.float32)
        probes = np.clip(points[:, None] + self.sigma * directions, 0.0, 1.0)
        owners = np.repeat(images, self.samples)
        probabilities, answered = self.averaged(counter, owners,
                                                probes.reshape(-1, *points.shape[1:]))
        losses = batch_margins(probabilities, counter.labels[owners]).reshape(len(images), -1)
        complete = answered.reshape(len(images), -1).all(axis=1)
        losses[~complete] = 0.0
        weights = (losses - losses.mean(axis=1, keepdims=True))[:, :, None, None, None]
        return (weights * directions).mean(axis=1) / self.sigma, complete


@dataclass(frozen=True)
class EotNes(BatchedNes):
    """NES against a random defense: each probe and iterate averaged over M fresh queries."""

    eot_samples: int = 4

    name: ClassVar[str] = "eot-nes"
