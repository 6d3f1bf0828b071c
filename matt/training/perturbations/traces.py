"""``traces``: the points Square actually reaches when run against the bare classifier.

The other query families imitate what an attack sends without its search. These pairs come
from the search itself: the batched Square of :mod:`matt.attacks.batched` (p_init 0.05, 0.3
or 0.8, a third of the images each) attacks the undefended classifier, and each training image
keeps the attack's candidate (its lowest-margin query so far) at a budget drawn per image
between 5 and 1 000 queries: early iterates, late ones, and the adversarial examples the
attack ends on once the bare classifier is fooled. Made once over the training images and
cached, like the white-box families. NES is left out: at 100 probes per step its traces cost
~15× Square's here, and its probes are the ``nes`` family already.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from matt.attacks.batched.square import BatchedSquare
from matt.attacks.threat import ThreatModel
from matt.errors import SpecError
from matt.training.perturbations.base import Family, FamilyContext, register

BUDGETS = (5, 20, 100, 300, 1000)
SQUARE_P_INIT = (0.05, 0.3, 0.8)


class _Classifier:
    """The bare classifier as a deterministic black box (what the traces are run against)."""

    name = "classifier-alone"
    randomized = False

    def __init__(self, classifier: nn.Module, num_classes: int) -> None:
        self.classifier = classifier
        self.num_classes = num_classes

    @torch.no_grad()
    def predict(self, images: np.ndarray) -> np.ndarray:
        logits = torch.cat([self.classifier(torch.from_numpy(images[start:start + 500]))
                            for start in range(0, len(images), 500)])
        return torch.softmax(logits, dim=1).numpy()


@register
class Traces(Family):
    name: ClassVar[str] = "traces"
    cached: ClassVar[bool] = True
    cache_chunk: ClassVar[int] = 1000  # a batched attack advances all its images per call
    imitates: ClassVar[str] = "Square run against the bare classifier (its candidates)"

    def cache_key(self, epsilon: float) -> dict[str, object]:
        return {"name": self.name, "epsilon": epsilon, "budgets": list(BUDGETS),
                "square_p_init": list(SQUARE_P_INIT)}

    def perturb(self, clean: torch.Tensor, labels: torch.Tensor, context: FamilyContext,
                generator: torch.Generator) -> torch.Tensor:
        if context.classifier is None:
            raise SpecError(f"family {self.name} needs the classifier")
        classifier = context.classifier.eval()
        images = clean.numpy().astype(np.float32)
        answers = labels.numpy().astype(np.int64)
        with torch.no_grad():
            num_classes = int(classifier(clean[:1]).shape[1])
        target = _Classifier(classifier, num_classes)
        threat = ThreatModel("linf", context.epsilon)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        rng = np.random.default_rng(seed)
        attack_of = rng.integers(0, len(SQUARE_P_INIT), len(images))
        budget_of = rng.choice(BUDGETS, len(images))
        out = clean.clone()
        for attack_index, p_init in enumerate(SQUARE_P_INIT):
            rows = np.flatnonzero(attack_of == attack_index)
            if not len(rows):
                continue
            traces = BatchedSquare(p_init=p_init).attack_batch(
                target, images[rows], answers[rows], threat=threat, budgets=BUDGETS,
                seed=seed + attack_index)
            for row, trace in zip(rows, traces, strict=True):
                candidate = trace.candidates.get(int(budget_of[row]))
                if candidate is not None:
                    out[row] = torch.from_numpy(np.asarray(candidate, dtype=np.float32))
        return out.clamp(0.0, 1.0)
