"""Query-based attacks with per-image query accounting (NES, SimBA, Square, Boundary, HSJ)."""

from matt.attacks.art_attacks import SimbaAttack, SquareAttack
from matt.attacks.base import Attack
from matt.attacks.counter import (
    AttackDiverged,
    QueryBudgetExhausted,
    QueryCounter,
    QueryTrace,
    StopAttack,
    TargetFooled,
    margin_of,
)
from matt.attacks.foolbox_attacks import BoundaryAttack, HopSkipJumpAttack
from matt.attacks.nes import NesAttack
from matt.attacks.registry import ATTACKS, build_attack
from matt.attacks.target import Target
from matt.attacks.threat import DATASET_EPSILONS, ThreatModel, default_threat

__all__ = [
    "ATTACKS",
    "DATASET_EPSILONS",
    "Attack",
    "AttackDiverged",
    "BoundaryAttack",
    "HopSkipJumpAttack",
    "NesAttack",
    "QueryBudgetExhausted",
    "QueryCounter",
    "QueryTrace",
    "SimbaAttack",
    "SquareAttack",
    "StopAttack",
    "Target",
    "TargetFooled",
    "ThreatModel",
    "build_attack",
    "default_threat",
    "margin_of",
]
