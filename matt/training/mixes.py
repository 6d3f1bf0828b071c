"""Named mixes of perturbation families: what share of a purifier's training pairs each makes.

A member trained on one mix sees, at every step, crops whose inputs come from the mix's
families in proportion to their shares. The default pool spreads four mixes over three
architectures: every mix keeps a large share of Square's stripes and squares (what query
attacks send first, and what the white-box pairs never contain), the rest differs, so members
differ in what they remove (the paper's diversity, measured as ν in ``docs/pool-*.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from matt.errors import SpecError
from matt.training.perturbations import family, family_names


@dataclass(frozen=True)
class Mix:
    """``shares``: (family, share) pairs; shares are > 0 and sum to 1."""

    name: str
    shares: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        if not self.shares:
            raise SpecError(f"mix {self.name!r}: no families")
        for name, share in self.shares:
            family(name)  # unknown names are refused with the list of known ones
            if not share > 0:
                raise SpecError(f"mix {self.name!r}: share of {name} must be > 0, got {share}")
        if abs(sum(share for _, share in self.shares) - 1) > 1e-6:
            raise SpecError(f"mix {self.name!r}: shares must sum to 1")
        if len({name for name, _ in self.shares}) != len(self.shares):
            raise SpecError(f"mix {self.name!r}: a family is named twice")

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.shares)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "shares": dict(self.shares)}


_QUERY_TAIL = (("vertices", 0.05), ("simba", 0.05), ("nes", 0.05), ("l2", 0.05))

MIXES: dict[str, Mix] = {mix.name: mix for mix in (
    Mix("fgsm+query", (("fgsm", 0.35), ("stripes", 0.25), ("squares", 0.2), *_QUERY_TAIL)),
    Mix("pgd+query", (("pgd", 0.35), ("stripes", 0.25), ("squares", 0.2), *_QUERY_TAIL)),
    Mix("bim+query", (("bim", 0.35), ("stripes", 0.25), ("squares", 0.2), *_QUERY_TAIL)),
    Mix("stripes+fgsm", (("stripes", 0.5), ("fgsm", 0.2), ("squares", 0.1), ("vertices", 0.1),
                         ("nes", 0.05), ("simba", 0.05))),
    Mix("traces+query", (("traces", 0.35), ("stripes", 0.3), ("squares", 0.15),
                         ("vertices", 0.1), ("nes", 0.05), ("simba", 0.05))),
    Mix("traces+fgsm", (("traces", 0.35), ("stripes", 0.25), ("fgsm", 0.2), ("squares", 0.1),
                        ("vertices", 0.05), ("l2", 0.05))),
    Mix("traces+pgd", (("traces", 0.35), ("stripes", 0.25), ("pgd", 0.2), ("squares", 0.1),
                       ("nes", 0.05), ("simba", 0.05))),
    Mix("traces+bim", (("traces", 0.35), ("stripes", 0.25), ("bim", 0.2), ("squares", 0.1),
                       ("vertices", 0.05), ("l2", 0.05))),
    Mix("query", (("stripes", 0.3), ("squares", 0.25), ("vertices", 0.15), ("simba", 0.1),
                  ("nes", 0.1), ("l2", 0.1))),
)}
# The shipped pools' mixes: the pilots in docs/training.md measured traces+… best against Square.
DEFAULT_MIXES = ("traces+query", "traces+fgsm", "traces+pgd", "traces+bim")


def mix_named(name: str) -> Mix:
    """A registered mix, or a single family as a mix of one (``pgd``: the paper's pairs)."""
    if name in MIXES:
        return MIXES[name]
    if name in family_names():
        return Mix(name, ((name, 1.0),))
    raise SpecError(f"unknown mix {name!r}; known mixes: {sorted(MIXES)}, or one family of "
                    f"{family_names()}")
