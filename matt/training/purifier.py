"""Training one purifier of the pool on adversarial → clean pairs (the paper's Eq. 2).

Loss: L1(m(x_adv), x) + λ · L1(m(x), x). The second term keeps clean images clean, which is
what keeps the defended classifier's clean accuracy. Each step takes random crops of the
pairs (the same window of the adversarial and the clean image, randomly flipped): the
purifier is fully convolutional and is served on patches anyway, and small crops make a step
cheap. Adam with a cosine learning rate; a checkpoint every ``checkpoint_every`` steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from matt.errors import SpecError
from matt.models import PurifierSpec, build_purifier
from matt.training.artifacts import append_metrics, atomic_save, read_payload
from matt.training.measures import batch_slices, predict, psnr

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"


@dataclass(frozen=True)
class PurifierTraining:
    """How to train one purifier.

    Attributes:
        steps: optimisation steps.
        batch_size: crops per step.
        crop: side of the training crops in pixels (clamped to the image).
        learning_rate: Adam's peak learning rate (cosine decay to zero).
        clean_weight: λ of Eq. 2.
        flip: random horizontal flips of the crops.
        checkpoint_every: steps between checkpoints (and loss lines in the metrics log).
        seed: initial weights, crops and flips.
    """

    steps: int = 2000
    batch_size: int = 32
    crop: int = 16
    learning_rate: float = 1e-3
    clean_weight: float = 1.0
    flip: bool = True
    checkpoint_every: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "crop", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SpecError(f"purifier training: {name} must be a positive integer")
        if self.learning_rate <= 0 or self.clean_weight < 0:
            raise SpecError("purifier training: learning_rate must be > 0, clean_weight >= 0")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def random_crops(adversarial: torch.Tensor, clean: torch.Tensor, count: int, crop: int,
                 flip: bool, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` aligned crops of random pairs: the same window of both images."""
    height, width = clean.shape[2], clean.shape[3]
    crop_h, crop_w = min(crop, height), min(crop, width)
    picks = torch.randint(0, len(clean), (count,), generator=generator)
    tops = torch.randint(0, height - crop_h + 1, (count,), generator=generator)
    lefts = torch.randint(0, width - crop_w + 1, (count,), generator=generator)
    flips = torch.rand(count, generator=generator) < 0.5
    pairs = []
    for index, top, left, flipped in zip(picks.tolist(), tops.tolist(), lefts.tolist(),
                                         flips.tolist(), strict=True):
        window = (slice(None), slice(top, top + crop_h), slice(left, left + crop_w))
        pair = torch.stack([adversarial[index][window], clean[index][window]])
        pairs.append(pair.flip(3) if flip and flipped else pair)
    stacked = torch.stack(pairs)
    return stacked[:, 0], stacked[:, 1]


def _learning_rate(training: PurifierTraining, step: int) -> float:
    return training.learning_rate * 0.5 * (1 + math.cos(math.pi * step / training.steps))


def train_purifier(spec: PurifierSpec, training: PurifierTraining, adversarial: torch.Tensor,
                   clean: torch.Tensor, run_dir: Path) -> dict[str, torch.Tensor]:
    """Train (or resume) one purifier on aligned ``adversarial``/``clean`` [0, 1] NCHW sets."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(training.seed)
    purifier = build_purifier(spec)
    optimiser = torch.optim.Adam(purifier.parameters(), lr=training.learning_rate)
    step = _resume(run_dir / CHECKPOINT, purifier, optimiser, spec)
    generator = torch.Generator()
    purifier.train()
    bar = tqdm(total=training.steps, initial=step, desc=spec.name, mininterval=10)
    running, started = 0.0, time.monotonic()
    while step < training.steps:
        generator.manual_seed(training.seed * 1_000_003 + step)
        adversarial_crops, clean_crops = random_crops(adversarial, clean, training.batch_size,
                                                      training.crop, training.flip, generator)
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(training, step)
        loss = (purifier(adversarial_crops) - clean_crops).abs().mean()
        if training.clean_weight:
            loss = loss + training.clean_weight * (purifier(clean_crops) - clean_crops).abs().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        running += loss.item()
        bar.update(1)
        if step % training.checkpoint_every == 0 or step == training.steps:
            done_since = (step - 1) % training.checkpoint_every + 1
            append_metrics(run_dir / METRICS, {"step": step, "loss": running / done_since,
                                               "seconds": round(time.monotonic() - started, 1)})
            running, started = 0.0, time.monotonic()
            atomic_save({"step": step, "spec": spec.to_dict(), "model": purifier.state_dict(),
                         "optimiser": optimiser.state_dict()}, run_dir / CHECKPOINT)
    bar.close()
    return purifier.eval().state_dict()


def _resume(path: Path, purifier: nn.Module, optimiser: torch.optim.Optimizer,
            spec: PurifierSpec) -> int:
    if not path.is_file():
        return 0
    checkpoint = read_payload(path)
    if checkpoint.get("spec") != spec.to_dict():
        raise SpecError(f"{path} belongs to another purifier spec; use a fresh --run-dir")
    purifier.load_state_dict(checkpoint["model"])
    optimiser.load_state_dict(checkpoint["optimiser"])
    return int(checkpoint["step"])


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
