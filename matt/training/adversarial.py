"""White-box ℓ∞ attacks that make the purifiers' training pairs: FGSM, PGD and BIM.

All three maximise the classifier's cross-entropy inside the ℓ∞ ball of radius ε around the
clean images, and keep the result in [0, 1]. They differ in how they walk:

* **FGSM** (Goodfellow et al., 2015): one signed-gradient step of size ε.
* **BIM** (Kurakin et al., 2017): ``steps`` signed-gradient steps of ``step_size`` from the
  clean image, projected back into the ball after each step. Default 10 steps of ε/8
  (Kurakin's 1/255 at ε = 8/255; the walk can reach the ball's edge).
* **PGD** (Madry et al., 2018): BIM from a uniformly random start inside the ball. Default
  10 steps of ε/4 (Madry's 2/255 at ε = 8/255).

ε is 8/255 on RGB images and 0.1 on Fashion-MNIST (:data:`DEFAULT_EPSILON`). The classifier is
put in eval mode for the attack and its parameters receive no gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from matt.errors import SpecError

ATTACK_NAMES = ("fgsm", "pgd", "bim")
DEFAULT_EPSILON = {"cifar10": 8 / 255, "fmnist": 0.1, "imagenet": 4 / 255}
_DEFAULT_STEPS = {"fgsm": 1, "pgd": 10, "bim": 10}
_STEP_BUDGET = {"fgsm": 1.0, "pgd": 2.5, "bim": 1.25}  # steps × step_size, in units of ε


@dataclass(frozen=True)
class AttackSpec:
    """An ℓ∞ attack and its budget, in [0, 1] pixel units.

    Attributes:
        name: ``fgsm``, ``pgd`` or ``bim``.
        epsilon: radius of the ℓ∞ ball.
        steps: gradient steps (1 for FGSM).
        step_size: size of each signed step.
    """

    name: str
    epsilon: float
    steps: int
    step_size: float

    def __post_init__(self) -> None:
        if self.name not in ATTACK_NAMES:
            raise SpecError(f"attack must be one of {ATTACK_NAMES}, not {self.name!r}")
        if not 0 < self.epsilon < 1:
            raise SpecError(f"attack {self.name}: epsilon must lie in (0, 1), got {self.epsilon}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise SpecError(f"attack {self.name}: steps must be a positive integer")
        if self.name == "fgsm" and self.steps != 1:
            raise SpecError("attack fgsm: takes exactly one step; use bim or pgd for more")
        if not self.step_size > 0:
            raise SpecError(f"attack {self.name}: step_size must be > 0, got {self.step_size}")

    @classmethod
    def default(
        cls, name: str, epsilon: float, steps: int | None = None, step_size: float | None = None
    ) -> AttackSpec:
        """The documented defaults for ``name`` at radius ``epsilon``; either may be overridden.

        With ``steps`` overridden and no ``step_size``, the walk keeps its length: 2.5 ε in all
        for PGD (Madry's rule), 1.25 ε for BIM.
        """
        if name not in ATTACK_NAMES:
            raise SpecError(f"attack must be one of {ATTACK_NAMES}, not {name!r}")
        steps = _DEFAULT_STEPS[name] if steps is None else steps
        if step_size is None:
            step_size = _STEP_BUDGET[name] * epsilon / steps
        return cls(name, float(epsilon), int(steps), float(step_size))

    def to_dict(self) -> dict[str, str | int | float]:
        return {"name": self.name, "epsilon": self.epsilon, "steps": self.steps,
                "step_size": self.step_size}


def _loss_gradient(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    images = images.detach().requires_grad_(True)
    loss = F.cross_entropy(model(images), labels)
    (gradient,) = torch.autograd.grad(loss, images)
    return gradient


def _project(candidate: torch.Tensor, clean: torch.Tensor, epsilon: float) -> torch.Tensor:
    bounded = torch.minimum(torch.maximum(candidate, clean - epsilon), clean + epsilon)
    return bounded.clamp(0.0, 1.0)


def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, epsilon: float
         ) -> torch.Tensor:
    """One step of ε along the sign of the loss gradient."""
    step = epsilon * _loss_gradient(model, images, labels).sign()
    return _project(images + step, images, epsilon).detach()


def bim(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, epsilon: float,
        steps: int, step_size: float) -> torch.Tensor:
    """Iterated FGSM from the clean image, projected onto the ε-ball after every step."""
    return _iterate(model, images, images.clone(), labels, epsilon, steps, step_size)


def pgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, epsilon: float,
        steps: int, step_size: float, generator: torch.Generator | None = None
        ) -> torch.Tensor:
    """BIM from a uniformly random point of the ε-ball (Madry's projected gradient descent)."""
    noise = torch.rand(images.shape, generator=generator, device=images.device)
    start = _project(images + (2 * noise - 1) * epsilon, images, epsilon)
    return _iterate(model, images, start, labels, epsilon, steps, step_size)


def _iterate(model: nn.Module, clean: torch.Tensor, adversarial: torch.Tensor,
             labels: torch.Tensor, epsilon: float, steps: int, step_size: float
             ) -> torch.Tensor:
    for _ in range(steps):
        step = step_size * _loss_gradient(model, adversarial, labels).sign()
        adversarial = _project(adversarial + step, clean, epsilon)
    return adversarial.detach()


def perturb(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, spec: AttackSpec,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Adversarial versions of ``images`` (NCHW in [0, 1]) against ``model`` under ``spec``.

    The model is switched to eval mode for the attack and restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            if spec.name == "fgsm":
                return fgsm(model, images, labels, epsilon=spec.epsilon)
            if spec.name == "bim":
                return bim(model, images, labels, epsilon=spec.epsilon, steps=spec.steps,
                           step_size=spec.step_size)
            return pgd(model, images, labels, epsilon=spec.epsilon, steps=spec.steps,
                       step_size=spec.step_size, generator=generator)
    finally:
        model.train(was_training)
