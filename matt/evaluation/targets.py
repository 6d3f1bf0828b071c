"""The systems under attack, one small class per kind, all behind :class:`~matt.attacks.Target`.

* :class:`TorchTarget`: a torch classifier behind a torch reference defense (the baselines).
* :class:`PipelineTarget`: the runtime :class:`~matt.runtime.Pipeline` (MATT as deployed).
* :class:`RemoteTarget`: a live ``matt-serve`` server, queried over the network.

Each answers ``predict(images) -> probabilities`` with one fresh query per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from matt.defense import Defense
from matt.errors import InputError

_BATCH = 256


class TorchTarget:
    """``softmax(post(classifier(defense(x))))``; ``defense`` may be ``None`` (undefended),
    ``postprocess`` a function of the logits (AAA)."""

    def __init__(self, name: str, classifier: nn.Module, defense: Defense | None,
                 num_classes: int,
                 postprocess: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.name = name
        self.classifier = classifier
        self.defense = defense
        self.postprocess = postprocess
        self.randomized = bool(defense is not None and defense.randomized)
        self.num_classes = num_classes

    def predict(self, images: np.ndarray) -> np.ndarray:
        answers = []
        with torch.inference_mode():
            for start in range(0, len(images), _BATCH):
                batch = torch.from_numpy(np.ascontiguousarray(images[start:start + _BATCH]))
                if self.defense is not None:
                    batch = self.defense(batch)
                logits = self.classifier(batch)
                if self.postprocess is not None:
                    logits = self.postprocess(logits)
                answers.append(torch.softmax(logits, dim=1).numpy())
        return np.concatenate(answers).astype(np.float32)


class PipelineTarget:
    """The runtime pipeline: MATT's purification then the classifier (``purify=False``: the
    classifier alone). A pool of one purifier makes MATT deterministic."""

    def __init__(self, name: str, pipeline: Any, purify: bool = True) -> None:
        self.name = name
        self.pipeline = pipeline
        self.purify = purify
        self.randomized = purify and pipeline.pool_size > 1
        self.num_classes = len(pipeline.manifest.class_names)

    def predict(self, images: np.ndarray) -> np.ndarray:
        answer = (self.pipeline.predict(images) if self.purify
                  else self.pipeline.classify_undefended(images))
        return np.asarray(answer, dtype=np.float32)


class RemoteTarget:
    """A live server through :class:`matt.serve.client.MattClient`.

    A server that returns labels only answers one-hot rows: decision-based attacks are
    unaffected, score-based ones see no scores (as a real label-only service would give them).
    """

    def __init__(self, name: str, client: Any, num_classes: int, randomized: bool = True) -> None:
        self.name = name
        self.client = client
        self.num_classes = num_classes
        self.randomized = randomized
        from matt.serve.handler import PROBABILITIES

        self.labels_only = client.output_of(client.model) != PROBABILITIES

    def predict(self, images: np.ndarray) -> np.ndarray:
        if not self.labels_only:
            answer = np.asarray(self.client.predict(images), dtype=np.float32)
        else:
            answer = np.eye(self.num_classes, dtype=np.float32)[self.client.labels(images)]
        if answer.shape != (len(images), self.num_classes):
            raise InputError(f"{self.client.url} answered shape {answer.shape} for "
                             f"{len(images)} images of {self.num_classes} classes; is it serving "
                             "the same bundle as --bundle?")
        return answer


TargetFactory = Callable[[int | None], Any]
"""Builds a target whose random draws follow ``seed`` (``None``: the OS CSPRNG)."""
