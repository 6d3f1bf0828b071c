"""Training-pair families: how a purifier's adversarial inputs are made.

Each family is one file that registers itself here with :func:`register`; ``matt-train pool``
names families in a mix (:mod:`matt.training.mixes`). White-box families (FGSM, PGD, BIM) need
the classifier's gradient and are made once and cached; the query-attack families (Square's
stripes and squares, ℓ∞-vertex noise, ℓ2 steps, NES probes) are random and cheap, so every
training step draws fresh ones. ``traces`` (Square's and NES's candidates against the bare
classifier) needs a search per image, so it is cached like the white-box ones.
"""

from matt.training.perturbations import (  # noqa: F401  (registration)
    l2_queries,
    linf_queries,
    traces,
    whitebox,
)
from matt.training.perturbations.base import Family, FamilyContext, family, family_names, register

__all__ = ["Family", "FamilyContext", "family", "family_names", "register"]
