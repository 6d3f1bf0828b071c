"""What an attack queries: a black box that answers class probabilities for a batch of images."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Target(Protocol):
    """The deployed system under attack (classifier behind a defense, local or remote).

    Attributes:
        name: a short label for tables and logs.
        randomized: whether two queries of the same image may be answered differently; a
            deterministic target needs one query to confirm an answer, a random one a majority.
        num_classes: the length of each answer.
    """

    name: str
    randomized: bool
    num_classes: int

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Answer one query per image: (N, C, H, W) float32 in [0, 1] → (N, classes) float32
        probabilities. Each row is a fresh, independent query."""
        ...
