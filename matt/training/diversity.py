"""The pool's diversity: how differently its members purify the same images (the paper's ν).

ν(i, j) is the mean absolute difference between member i's and member j's purified images,
in [0, 1] pixel units, over held-out images; the mean over pairs i ≠ j is the pool's ν. A pool
of identical members has ν = 0 and gives an attacker one purifier to fit, whatever K is.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from matt.training.measures import batch_slices


@torch.no_grad()
def pairwise_distance(pool: list[nn.Module], images: torch.Tensor) -> torch.Tensor:
    """(K, K) mean |m_i(x) − m_j(x)| over ``images`` (N, C, H, W) in [0, 1]."""
    outputs = []
    for member in pool:
        member.eval()
        outputs.append(torch.cat([member(images[part]).clamp(0, 1)
                                  for part in batch_slices(len(images), 250)]))
    distances = torch.zeros(len(pool), len(pool))
    for i, j in itertools.combinations(range(len(pool)), 2):
        distances[i, j] = distances[j, i] = (outputs[i] - outputs[j]).abs().mean()
    return distances


def diversity_table(names: list[str], distances: torch.Tensor) -> str:
    """Markdown: the mean ν over pairs, then the matrix (×1000 for legibility)."""
    count = len(names)
    pairs = distances[~torch.eye(count, dtype=torch.bool)]
    lines = [f"mean ν over {count * (count - 1) // 2} pairs: {float(pairs.mean()):.4f} "
             f"(min {float(pairs.min()):.4f}, max {float(pairs.max()):.4f}); matrix ×1000:", "",
             "| | " + " | ".join(str(i) for i in range(count)) + " |",
             "|---" * (count + 1) + "|"]
    for i, name in enumerate(names):
        cells = ["–" if i == j else f"{1000 * float(distances[i, j]):.1f}"
                 for j in range(count)]
        lines.append(f"| {i}: {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
