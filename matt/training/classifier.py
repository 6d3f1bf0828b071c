"""Training a target classifier, standard or adversarially (PGD, Madry et al.), resumably.

A run folder holds ``checkpoint.pt`` (model, optimiser, epoch; rewritten after every epoch),
``metrics.jsonl`` (one line per epoch) and finally ``classifier.pt``. Starting again on the
same folder resumes after the last finished epoch, so a killed background job loses at most
one epoch.
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
from matt.models import ClassifierSpec, build_classifier
from matt.training.adversarial import AttackSpec, perturb
from matt.training.artifacts import append_metrics, atomic_save, read_payload
from matt.training.measures import accuracy

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"


@dataclass(frozen=True)
class ClassifierTraining:
    """How to train: SGD with Nesterov momentum, a cosine learning rate with a short warm-up.

    Attributes:
        epochs: passes over the training set.
        batch_size: images per step.
        learning_rate: peak learning rate.
        weight_decay: L2 penalty.
        crop_padding: random-crop augmentation: pixels of zero padding per side (0: none).
        flip: random horizontal flips.
        adversarial: train on these adversarial examples instead of the clean images.
        robust_eval_size: test images attacked each epoch to report robust accuracy (0: skip).
        seed: shuffling, augmentation and attack start points.
    """

    epochs: int = 15
    batch_size: int = 128
    learning_rate: float = 0.1
    weight_decay: float = 5e-4
    crop_padding: int = 2
    flip: bool = True
    adversarial: AttackSpec | None = None
    robust_eval_size: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise SpecError(f"classifier training: {name} must be >= 1")
        if self.learning_rate <= 0 or self.weight_decay < 0 or self.crop_padding < 0:
            raise SpecError("classifier training: learning_rate must be > 0, weight_decay and "
                            "crop_padding >= 0")

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["adversarial"] = self.adversarial.to_dict() if self.adversarial else None
        return data


def augment(images: torch.Tensor, padding: int, flip: bool, generator: torch.Generator
            ) -> torch.Tensor:
    """Random crops (zero padding) and horizontal flips, drawn per image."""
    count, _, height, width = images.shape
    if padding:
        padded = F.pad(images, (padding,) * 4)
        offsets = torch.randint(0, 2 * padding + 1, (count, 2), generator=generator)
        images = torch.stack([padded[i, :, dy:dy + height, dx:dx + width]
                              for i, (dy, dx) in enumerate(offsets.tolist())])
    if flip:
        flipped = torch.rand(count, generator=generator) < 0.5
        images = torch.where(flipped[:, None, None, None], images.flip(3), images)
    return images


def _learning_rate(training: ClassifierTraining, step: int, total_steps: int) -> float:
    warmup = max(1, total_steps // 50)
    if step < warmup:
        return training.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return training.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def train_classifier(
    spec: ClassifierSpec, training: ClassifierTraining,
    train_images: torch.Tensor, train_labels: torch.Tensor,
    test_images: torch.Tensor, test_labels: torch.Tensor,
    run_dir: Path, initial_state: dict[str, torch.Tensor] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Train (or resume training) a classifier; return its state dict and last epoch's metrics.

    Args:
        spec: the architecture.
        training: the recipe.
        train_images, train_labels: [0, 1] NCHW float32 and int64 labels.
        test_images, test_labels: held out; reported after every epoch.
        run_dir: where the checkpoint and metrics log live.
        initial_state: start from these weights instead of a random init (fine-tuning).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    model = build_classifier(spec)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    optimiser = torch.optim.SGD(model.parameters(), lr=training.learning_rate, momentum=0.9,
                                nesterov=True, weight_decay=training.weight_decay)
    start_epoch, metrics = _resume(run_dir / CHECKPOINT, model, optimiser, spec, training)
    steps_per_epoch = math.ceil(len(train_images) / training.batch_size)
    total_steps = training.epochs * steps_per_epoch
    for epoch in range(start_epoch, training.epochs):
        started = time.monotonic()
        generator = torch.Generator().manual_seed(training.seed * 1000 + epoch)
        order = torch.randperm(len(train_images), generator=generator)
        model.train()
        running_loss, seen = 0.0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{training.epochs}",
                   mininterval=5, leave=False)
        for batch_index in bar:
            picked = order[batch_index * training.batch_size:(batch_index + 1) *
                           training.batch_size]
            images = augment(train_images[picked], training.crop_padding, training.flip,
                             generator)
            labels = train_labels[picked]
            if training.adversarial is not None:
                images = perturb(model, images, labels, training.adversarial, generator)
            for group in optimiser.param_groups:
                group["lr"] = _learning_rate(training, epoch * steps_per_epoch + batch_index,
                                             total_steps)
            loss = F.cross_entropy(model(images), labels)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            running_loss += loss.item() * len(labels)
            seen += len(labels)
            bar.set_postfix(loss=f"{running_loss / seen:.3f}", refresh=False)
        metrics = _epoch_metrics(model, training, test_images, test_labels, generator)
        metrics.update(epoch=epoch + 1, train_loss=running_loss / seen,
                       seconds=round(time.monotonic() - started, 1))
        append_metrics(run_dir / METRICS, metrics)
        tqdm.write(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4g}" for k, v in
                                                     sorted(metrics.items())))
        atomic_save({"epoch": epoch + 1, "spec": spec.to_dict(), "training": training.to_dict(),
                     "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                     "metrics": metrics}, run_dir / CHECKPOINT)
    return model.eval().state_dict(), metrics


def _resume(path: Path, model: nn.Module, optimiser: torch.optim.Optimizer,
            spec: ClassifierSpec, training: ClassifierTraining) -> tuple[int, dict[str, float]]:
    if not path.is_file():
        return 0, {}
    checkpoint = read_payload(path)
    if checkpoint.get("spec") != spec.to_dict():
        raise SpecError(f"{path} was trained with another classifier spec "
                        f"({checkpoint.get('spec')}); use a fresh --run-dir")
    model.load_state_dict(checkpoint["model"])
    optimiser.load_state_dict(checkpoint["optimiser"])
    epoch = int(checkpoint["epoch"])
    tqdm.write(f"resuming {path} after epoch {epoch}/{training.epochs}")
    return epoch, dict(checkpoint.get("metrics", {}))


def _epoch_metrics(model: nn.Module, training: ClassifierTraining, test_images: torch.Tensor,
                   test_labels: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
    metrics = {"test_accuracy": accuracy(model, test_images, test_labels)}
    if training.robust_eval_size and training.adversarial is not None:
        count = min(training.robust_eval_size, len(test_images))
        images, labels = test_images[:count], test_labels[:count]
        attacked = torch.cat([perturb(model, images[i:i + 250], labels[i:i + 250],
                                      training.adversarial, generator)
                              for i in range(0, count, 250)])
        metrics[f"robust_accuracy_{training.adversarial.name}"] = accuracy(model, attacked,
                                                                          labels)
    return metrics

