"""Training one purifier of the pool on perturbed → clean pairs (the paper's Eq. 2).

Loss: L1(m(x_adv), x) + λ · L1(m(x), x). The second term keeps clean images clean, which is
what keeps the defended classifier's clean accuracy. Optionally (``logit_weight`` β > 0, off by
default: the paper's loss is pixels only) a classifier-guided term as in Liao et al.'s HGD
(CVPR 2018): β · KL(C(x) ‖ C(m(x_adv))) on whole images, so that what the purifier leaves is
judged by the classifier it protects, not by pixels alone. Each step draws aligned random crops of
fresh pairs from the member's mix of perturbation families (:mod:`matt.training.sampler`).
Adam with a cosine learning rate over ``steps``; every ``checkpoint_every`` steps the loss on a
fixed held-out batch (the same mix, images never trained on) is logged and a checkpoint written;
training stops early once that held-out loss has not improved by ``min_improvement`` for
``patience`` evaluations (its plateau), and resumes from the checkpoint after an interruption.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from matt.errors import SpecError
from matt.models import PurifierSpec, build_purifier
from matt.training.artifacts import append_metrics, atomic_save, read_payload
from matt.training.measures import batch_slices, predict, psnr
from matt.training.sampler import PairSampler, aligned_crops

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"


@dataclass(frozen=True)
class PurifierTraining:
    """How to train one purifier.

    Attributes:
        steps: the most optimisation steps (the cosine schedule's length).
        batch_size: crops per step.
        crop: side of the training crops in pixels (clamped to the image).
        learning_rate: Adam's peak learning rate (cosine decay to zero).
        clean_weight: λ of Eq. 2.
        flip: random horizontal flips of the crops.
        checkpoint_every: steps between checkpoints and held-out loss evaluations.
        patience: held-out evaluations without improvement before stopping (0: never early).
        min_improvement: relative held-out loss decrease that counts as an improvement.
        logit_weight: β of the classifier-guided term (0: the paper's pixel loss only).
        logit_batch: whole images per step for that term.
        seed: initial weights, crops, flips and the random perturbations.
    """

    steps: int = 2000
    batch_size: int = 32
    crop: int = 16
    learning_rate: float = 1e-3
    clean_weight: float = 1.0
    flip: bool = True
    checkpoint_every: int = 250
    patience: int = 0
    min_improvement: float = 0.005
    logit_weight: float = 0.0
    logit_batch: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "crop", "checkpoint_every", "logit_batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SpecError(f"purifier training: {name} must be a positive integer")
        if self.learning_rate <= 0 or self.clean_weight < 0 or self.logit_weight < 0:
            raise SpecError("purifier training: learning_rate must be > 0, clean_weight and "
                            "logit_weight >= 0")
        if not isinstance(self.patience, int) or self.patience < 0 or not (
                0 <= self.min_improvement < 1):
            raise SpecError("purifier training: patience must be an integer >= 0 and "
                            "min_improvement in [0, 1)")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def random_crops(adversarial: torch.Tensor, clean: torch.Tensor, count: int, crop: int,
                 flip: bool, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` aligned crops of random pairs: the same window of both images."""
    picks = torch.randint(0, len(clean), (count,), generator=generator)
    return aligned_crops(adversarial[picks], clean[picks], crop, flip, generator)


def _learning_rate(training: PurifierTraining, step: int) -> float:
    return training.learning_rate * 0.5 * (1 + math.cos(math.pi * step / training.steps))


def pair_loss(purifier: nn.Module, perturbed: torch.Tensor, clean: torch.Tensor,
              clean_weight: float) -> torch.Tensor:
    """Eq. 2: L1 of the purified perturbed input plus λ times L1 of the purified clean one."""
    loss = (purifier(perturbed) - clean).abs().mean()
    if clean_weight:
        loss = loss + clean_weight * (purifier(clean) - clean).abs().mean()
    return loss


def guided_loss(purifier: nn.Module, classifier: nn.Module, perturbed: torch.Tensor,
                clean: torch.Tensor) -> torch.Tensor:
    """KL from the classifier's answer on the clean images to its answer on the purified
    perturbed ones (the classifier is frozen; only the purifier learns)."""
    with torch.no_grad():
        target = F.log_softmax(classifier(clean), dim=1)
    answer = F.log_softmax(classifier(purifier(perturbed).clamp(0.0, 1.0)), dim=1)
    return F.kl_div(answer, target, log_target=True, reduction="batchmean")


@torch.no_grad()
def held_out_loss(purifier: nn.Module, pairs: tuple[torch.Tensor, torch.Tensor],
                  clean_weight: float) -> float:
    purifier.eval()
    perturbed, clean = pairs
    total = sum(float(pair_loss(purifier, perturbed[part], clean[part], clean_weight)) *
                len(clean[part]) for part in batch_slices(len(clean), 250))
    purifier.train()
    return total / len(clean)


def train_purifier(spec: PurifierSpec, training: PurifierTraining, sampler: PairSampler,
                   run_dir: Path, held_out: tuple[torch.Tensor, torch.Tensor] | None = None,
                   classifier: nn.Module | None = None,
                   initial_state: dict[str, torch.Tensor] | None = None
                   ) -> dict[str, torch.Tensor]:
    """Train (or resume) one purifier on pairs drawn from ``sampler``.

    ``held_out``: fixed (perturbed, clean) whole images whose loss is logged and decides the
    plateau; without it every step of ``training.steps`` runs. ``classifier``: needed when
    ``training.logit_weight`` > 0 (put in eval mode, its weights untouched).
    ``initial_state``: start from these weights (fine-tuning) instead of a random init; a
    checkpoint in ``run_dir`` still wins, so a killed fine-tuning resumes where it stopped.
    """
    if training.logit_weight and classifier is None:
        raise SpecError("purifier training: logit_weight > 0 needs the classifier")
    if classifier is not None:
        classifier.eval().requires_grad_(False)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(training.seed)
    purifier = build_purifier(spec)
    if initial_state is not None:
        purifier.load_state_dict(initial_state)
    optimiser = torch.optim.Adam(purifier.parameters(), lr=training.learning_rate)
    step, history = _resume(run_dir / CHECKPOINT, purifier, optimiser, spec)
    generator = torch.Generator()
    purifier.train()
    bar = tqdm(total=training.steps, initial=step, desc=spec.name, mininterval=10)
    running, started = 0.0, time.monotonic()
    while step < training.steps and not _plateaued(history, training):
        generator.manual_seed(training.seed * 1_000_003 + step)
        perturbed_crops, clean_crops = sampler.crops(training.batch_size, training.crop,
                                                     training.flip, generator)
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(training, step)
        loss = pair_loss(purifier, perturbed_crops, clean_crops, training.clean_weight)
        if training.logit_weight and classifier is not None:
            perturbed_whole, clean_whole, _ = sampler.pairs(training.logit_batch, generator)
            loss = loss + training.logit_weight * guided_loss(purifier, classifier,
                                                              perturbed_whole, clean_whole)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        running += loss.item()
        bar.update(1)
        if step % training.checkpoint_every == 0 or step == training.steps:
            done_since = (step - 1) % training.checkpoint_every + 1
            record: dict[str, float] = {"step": step, "loss": running / done_since,
                                        "seconds": round(time.monotonic() - started, 1)}
            if held_out is not None:
                record["held_out_loss"] = held_out_loss(purifier, held_out,
                                                        training.clean_weight)
                history.append(record["held_out_loss"])
            append_metrics(run_dir / METRICS, record)
            running, started = 0.0, time.monotonic()
            atomic_save({"step": step, "spec": spec.to_dict(), "model": purifier.state_dict(),
                         "optimiser": optimiser.state_dict(), "history": history},
                        run_dir / CHECKPOINT)
    bar.close()
    return purifier.eval().state_dict()


def _plateaued(history: list[float], training: PurifierTraining) -> bool:
    """No held-out improvement of ``min_improvement`` over the best for ``patience`` checks."""
    if not training.patience or len(history) <= training.patience:
        return False
    best_before = min(history[:-training.patience])
    recent = min(history[-training.patience:])
    return recent > best_before * (1 - training.min_improvement)


def _resume(path: Path, purifier: nn.Module, optimiser: torch.optim.Optimizer,
            spec: PurifierSpec) -> tuple[int, list[float]]:
    if not path.is_file():
        return 0, []
    checkpoint = read_payload(path)
    if checkpoint.get("spec") != spec.to_dict():
        raise SpecError(f"{path} belongs to another purifier spec; use a fresh --run-dir")
    purifier.load_state_dict(checkpoint["model"])
    optimiser.load_state_dict(checkpoint["optimiser"])
    return int(checkpoint["step"]), [float(v) for v in checkpoint.get("history", [])]


@torch.no_grad()
def purify(purifier: nn.Module, images: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
    """Whole-image purification in batches (eval mode)."""
    purifier.eval()
    return torch.cat([purifier(images[part]) for part in batch_slices(len(images), batch_size)])


def evaluate_purifier(purifier: nn.Module, classifier: nn.Module, clean: torch.Tensor,
                      labels: torch.Tensor, adversarial: dict[str, torch.Tensor]
                      ) -> dict[str, float]:
    """Held-out metrics of one purifier in front of ``classifier``.

    Returns ``psnr_clean`` (purified clean vs clean), ``accuracy_clean`` (classifier on purified
    clean) and per attack ``psnr_<attack>_before`` (adversarial vs clean), ``psnr_<attack>_after``
    (purified adversarial vs clean) and ``accuracy_<attack>`` (classifier on purified
    adversarial examples, crafted against the classifier alone).
    """
    purified_clean = purify(purifier, clean)
    metrics = {"psnr_clean": psnr(purified_clean, clean),
               "accuracy_clean": _agreement(classifier, purified_clean, labels)}
    for name, images in adversarial.items():
        purified = purify(purifier, images)
        metrics[f"psnr_{name}_before"] = psnr(images, clean)
        metrics[f"psnr_{name}_after"] = psnr(purified, clean)
        metrics[f"accuracy_{name}"] = _agreement(classifier, purified, labels)
    return metrics


def classifier_baseline(classifier: nn.Module, clean: torch.Tensor, labels: torch.Tensor,
                        adversarial: dict[str, torch.Tensor]) -> dict[str, float]:
    """The classifier alone on the same held-out sets: the numbers a purifier is compared to."""
    metrics = {"accuracy_clean": _agreement(classifier, clean, labels)}
    for name, images in adversarial.items():
        metrics[f"accuracy_{name}"] = _agreement(classifier, images, labels)
    return metrics


def _agreement(classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predict(classifier, images) == labels).float().mean())
