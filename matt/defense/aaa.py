"""AAA (Chen et al., NeurIPS 2022, "Adversarial Attack on Attackers"): a post-processing of
the returned scores against score-based query attacks, written here from the paper.

A score-based attack walks down the margin between the top two logits. AAA leaves the label
alone and replaces that margin m by one that goes the wrong way inside each interval of width
τ: with attractors a = (⌊m/τ⌋ + ½)·τ, the output margin is a − α·(m − a). Within an interval,
when the attack lowers m the margin it sees rises, so its greedy steps are rejected (the
paper's AAA-linear; τ and α are its interval and reverse step). The top logit is moved to give
that margin over the runner-up, the other logits are kept, so the argmax never changes and the
confidence stays a smooth function of the original one. Deterministic: a query repeated gets
the same answer. It defends only score-based attacks (decision-based ones see the label).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from matt.errors import SpecError


@dataclass(frozen=True)
class AaaLinear:
    """``interval`` τ and ``reverse_step`` α, in logit units (the paper's defaults 6 and 0.7)."""

    interval: float = 6.0
    reverse_step: float = 0.7

    def __post_init__(self) -> None:
        if not self.interval > 0 or not 0 < self.reverse_step < 1:
            raise SpecError("aaa: interval must be > 0 and reverse_step in (0, 1)")

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """Post-processed logits (N, classes); the argmax of every row is unchanged."""
        rows = torch.arange(len(logits))
        top = logits.argmax(dim=1)  # the first maximal logit, as argmax reads the label
        others = logits.clone()
        others[rows, top] = -torch.inf
        runner_up = others.max(dim=1).values
        margin = logits[rows, top] - runner_up
        attractor = (torch.floor(margin / self.interval) + 0.5) * self.interval
        target = attractor - self.reverse_step * (margin - attractor)
        # the smallest target is (1 - α) τ / 2 > 0: the top class stays on top
        out = logits.clone()
        out[rows, top] = runner_up + target
        return out
