"""The paper's three white-box families: FGSM, PGD, BIM against the bare classifier (cached)."""

from __future__ import annotations

from typing import ClassVar

import torch

from matt.errors import SpecError
from matt.training.adversarial import AttackSpec, perturb
from matt.training.perturbations.base import Family, FamilyContext, register


class _WhiteBox(Family):
    cached: ClassVar[bool] = True
    imitates: ClassVar[str] = "transfer from white-box attacks (the paper's Table 9 pairs)"

    def spec(self, epsilon: float) -> AttackSpec:
        return AttackSpec.default(self.name, epsilon)

    def cache_key(self, epsilon: float) -> dict[str, object]:
        return dict(self.spec(epsilon).to_dict())

    def perturb(self, clean: torch.Tensor, labels: torch.Tensor, context: FamilyContext,
                generator: torch.Generator) -> torch.Tensor:
        if context.classifier is None:
            raise SpecError(f"family {self.name} needs the classifier")
        return perturb(context.classifier, clean, labels, self.spec(context.epsilon), generator)


@register
class Fgsm(_WhiteBox):
    name: ClassVar[str] = "fgsm"


@register
class Pgd(_WhiteBox):
    name: ClassVar[str] = "pgd"


@register
class Bim(_WhiteBox):
    name: ClassVar[str] = "bim"
