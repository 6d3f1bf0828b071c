"""Evaluation profiles: ``quick`` (minutes on a 2-core CPU) and ``paper`` (the full protocol)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from matt.attacks import ATTACKS, attack_base_name
from matt.errors import InputError, SpecError
from matt.evaluation.defenses import DEFENSES

TABLE_ATTACKS = ("nes", "simba", "square", "boundary", "hopskipjump")
TABLE_DEFENSES = ("none", "at", "smoothing", "noise", "disco", "disco-ensemble", "matt",
                  "matt-at")


@dataclass(frozen=True)
class EvalProfile:
    """What one ``matt-eval`` run covers.

    Attributes:
        name: ``quick`` or ``paper``.
        n_images: evaluation images per cell (balanced, correctly classified).
        budgets: query budgets reported; the largest caps every attack.
        attacks, defenses: the Table 2 cells.
        fresh_queries: majority size of the offline rule.
        clean_repeats: passes for a random defense's clean accuracy.
        chunk: images per round across cells.
        k_images: images for Figure 6 (robust accuracy against the pool size K); 0 skips it.
        k_attack: the attack of Figures 5 and 6 (see :attr:`figure_attack`).
        patch_images: test images for Figure 11 (clean accuracy against patches); 0 skips it.
        repeat_queries: times each clean image is sent to a random defense for the no-attack
            row (what the online rule counts from repetition alone).
    """

    name: str
    n_images: int
    budgets: tuple[int, ...]
    attacks: tuple[str, ...] = TABLE_ATTACKS
    defenses: tuple[str, ...] = TABLE_DEFENSES
    fresh_queries: int = 5
    clean_repeats: int = 3
    chunk: int = 10
    k_images: int = 0
    k_attack: str = "square"
    patch_images: int = 0
    repeat_queries: int = 200

    def __post_init__(self) -> None:
        if self.n_images < 1:
            raise SpecError(f"profile {self.name}: n_images must be >= 1, got {self.n_images}")
        unknown = [a for a in (*self.attacks, self.k_attack) if attack_base_name(a) not in ATTACKS]
        unknown += [d for d in self.defenses if d not in DEFENSES]
        if unknown:
            raise InputError(f"unknown attacks or defenses {unknown}; attacks: "
                             f"{', '.join(ATTACKS)}; defenses: {', '.join(DEFENSES)}")
        if self.k_images < 0 or self.patch_images < 0:
            raise SpecError(f"profile {self.name}: k_images and patch_images must be >= 0")
        if self.repeat_queries < 1:
            raise SpecError(f"profile {self.name}: repeat_queries must be >= 1")
        if not self.attacks or not self.defenses:
            raise InputError("choose at least one attack and one defense")

    @property
    def figure_attack(self) -> str:
        """The attack of Figures 5 and 6: ``k_attack`` as the table runs it.

        When the table runs ``k_attack`` with overrides (``square:p_init=0.05`` for
        ``square``), the figures use that spec, so Figure 6's full pool is the table's own
        cell and every K is attacked alike.
        """
        if self.k_attack in self.attacks:
            return self.k_attack
        same_kind = [a for a in self.attacks if attack_base_name(a) == self.k_attack]
        return same_kind[0] if same_kind else self.k_attack

    def with_overrides(self, **changes: Any) -> EvalProfile:
        """The profile with the non-``None`` command-line overrides applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


PROFILES = {
    # A MATT query costs tens of milliseconds on a 2-core CPU (every patch is purified inside
    # its halo), and random defenses are attacked to the full budget: the quick profile keeps
    # every attack and defense but few images and queries, to finish within about 15 minutes.
    "quick": EvalProfile("quick", n_images=4, budgets=(50, 100), fresh_queries=5,
                         clean_repeats=3, chunk=4, k_images=4, patch_images=100,
                         repeat_queries=50),
    "paper": EvalProfile("paper", n_images=1000, budgets=(200, 1000, 2500), fresh_queries=5,
                         clean_repeats=5, chunk=20, k_images=200, patch_images=10000),
}


def pool_sizes(pool: int) -> tuple[int, ...]:
    """Figure 6's K values: powers of two below the pool size, and the pool size."""
    sizes = [2**i for i in range(int(math.log2(pool)) + 1) if 2**i < pool]
    return (*sizes, pool)


def patch_sizes(side: int) -> tuple[int, ...]:
    """Figure 11's patch sizes in pixels: 1, 2, 4, 7 (28 px) or 8 (32 px) patches a side."""
    grids = (1, 2, 4, 7) if side % 7 == 0 else (1, 2, 4, 8)
    return tuple(sorted({math.ceil(side / g) for g in grids}, reverse=True))
