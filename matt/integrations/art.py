"""The Adversarial Robustness Toolbox's ``BlackBoxClassifier`` around a MATT pipeline.

::

    from matt.integrations.art import art_classifier
    classifier = art_classifier(pipe)                  # predict: MATT's answers, one per query
    attack = HopSkipJump(classifier, max_iter=10)      # any ART black-box attack
    adversarial = attack.generate(images)

Every image ART sends is a fresh query, purified with a fresh random draw: the adapter hides
nothing of MATT's randomness from the attack. ``queries`` counts them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from matt.core import NDArray
from matt.errors import MissingExtra

if TYPE_CHECKING:
    from matt.runtime import Pipeline


class PipelinePredict:
    """ART's ``predict_fn``: a batch in [0, 1] (ART's float32 or float64) → probabilities.

    Args:
        pipeline: a loaded pipeline.
        defended: ``True`` answers with MATT (``predict``); ``False`` with the classifier
            alone (``classify_undefended``), the baseline.
    """

    def __init__(self, pipeline: Pipeline, defended: bool = True) -> None:
        self.pipeline, self.defended = pipeline, defended
        self.queries = 0
        self._lock = threading.Lock()

    def __call__(self, images: Any) -> NDArray:
        answer = (self.pipeline.predict(images) if self.defended
                  else self.pipeline.classify_undefended(images))
        with self._lock:
            self.queries += int(np.shape(images)[0]) if np.ndim(images) == 4 else 1
        return answer


def art_classifier(pipeline: Pipeline, *, defended: bool = True) -> Any:
    """An ART ``BlackBoxClassifier`` answering with ``pipeline``; its ``predict_fn`` is a
    :class:`PipelinePredict` (``classifier.predict_fn.queries`` counts the queries).

    Raises:
        MissingExtra: ART is not installed (the ``eval`` extra).
    """
    try:
        from art.estimators.classification import BlackBoxClassifier
    except ImportError:
        raise MissingExtra("matt.integrations.art", "eval",
                           "adversarial-robustness-toolbox") from None
    return BlackBoxClassifier(PipelinePredict(pipeline, defended),
                              input_shape=tuple(pipeline.input_shape),
                              nb_classes=len(pipeline.manifest.class_names),
                              clip_values=(0.0, 1.0))
