"""Adversarial → clean training pairs, made once per attack and shared by every purifier.

Generating adversarial examples costs far more than one purifier step, so (as in the paper's
Figure 4) each attack runs once over the clean set against the target classifier and the result
is cached in the run folder. The cache is rewritten after every chunk, so a killed job resumes
where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from matt.errors import DataError
from matt.training.artifacts import atomic_save, read_payload
from matt.training.perturbations import FamilyContext, family

CHUNK = 100


@dataclass
class PairSet:
    """Clean images (N, C, H, W) in [0, 1], their labels, and adversarial versions by attack."""

    clean: torch.Tensor
    labels: torch.Tensor
    adversarial: dict[str, torch.Tensor]

    def __post_init__(self) -> None:
        for name, images in self.adversarial.items():
            if images.shape != self.clean.shape:
                raise DataError(f"adversarial set {name!r} has shape {tuple(images.shape)}, "
                                f"the clean set {tuple(self.clean.shape)}")


def family_set(name: str, context: FamilyContext, clean: torch.Tensor, labels: torch.Tensor,
               cache: Path, seed: int = 0) -> torch.Tensor:
    """The perturbed versions of ``clean`` by a cached family (white-box attacks, traces),
    cached (float16) at ``cache``; a cache made for other images or another family is refused
    rather than reused. A white-box family's key is its attack spec, as in earlier runs."""
    chosen = family(name)

    def make(images: torch.Tensor, answers: torch.Tensor, generator: torch.Generator
             ) -> torch.Tensor:
        return chosen.perturb(images, answers, context, generator)

    return cached_set(make, chosen.cache_key(context.epsilon), clean, labels, context.epsilon,
                      cache, seed, f"{name} examples", chunk=chosen.cache_chunk)


def cached_set(make: Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor],
               key: Mapping[str, object], clean: torch.Tensor, labels: torch.Tensor,
               epsilon: float, cache: Path, seed: int, description: str, chunk: int = CHUNK
               ) -> torch.Tensor:
    """``make`` over ``clean`` chunk by chunk, the cache rewritten after each (resumable)."""
    fingerprint = {"attack": dict(key), "count": len(clean),
                   "clean_sum": round(float(clean.double().sum()), 3), "seed": seed}
    adversarial = torch.zeros(clean.shape, dtype=torch.float16)
    done = 0
    if cache.is_file():
        stored = read_payload(cache)
        if stored.get("fingerprint") != fingerprint:
            raise DataError(f"{cache} was made for other images or another attack; "
                            "delete it or use a fresh --run-dir")
        adversarial, done = stored["adversarial"], int(stored["done"])
    generator = torch.Generator().manual_seed(seed)
    bar = tqdm(total=len(clean), initial=done, desc=description, mininterval=10)
    for start in range(done, len(clean), chunk):
        stop = min(start + chunk, len(clean))
        generator.manual_seed(seed * 1_000_003 + start)
        adversarial[start:stop] = make(clean[start:stop], labels[start:stop], generator).half()
        atomic_save({"fingerprint": fingerprint, "adversarial": adversarial, "done": stop},
                    cache)
        bar.update(stop - start)
    bar.close()
    return _restore_ball(adversarial.float(), clean, epsilon)


def _restore_ball(adversarial: torch.Tensor, clean: torch.Tensor, epsilon: float
                  ) -> torch.Tensor:
    """Undo float16 rounding that stepped a hair outside the ε-ball or [0, 1]."""
    bounded = torch.minimum(torch.maximum(adversarial, clean - epsilon), clean + epsilon)
    return bounded.clamp(0.0, 1.0)


def make_pairs(context: FamilyContext, clean: torch.Tensor, labels: torch.Tensor,
               families: tuple[str, ...], cache_dir: Path, seed: int = 0) -> PairSet:
    """One perturbed set per cached family (under ``cache_dir``) beside the clean images."""
    adversarial = {name: family_set(name, context, clean, labels, cache_dir / f"{name}.pt",
                                    seed)
                   for name in families}
    return PairSet(clean, labels, adversarial)
