"""Query-based attacks with per-image query accounting (NES, SimBA, Square, Boundary, HSJ)."""

from matt.attacks.art_attacks import ArtSquareAttack, SimbaAttack
from matt.attacks.base import Attack
from matt.attacks.batched import (
    BatchCounter,
    BatchedAttack,
    BatchedNes,
    BatchedSquare,
    EotNes,
    EotSquare,
)
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
from matt.attacks.registry import ATTACKS, attack_base_name, build_attack
from matt.attacks.target import Target
from matt.attacks.threat import DATASET_EPSILONS, ThreatModel, default_threat

__all__ = [
    "ATTACKS",
    "DATASET_EPSILONS",
    "ArtSquareAttack",
    "Attack",
    "AttackDiverged",
    "BatchCounter",
    "BatchedAttack",
    "BatchedNes",
    "BatchedSquare",
    "BoundaryAttack",
    "EotNes",
    "EotSquare",
    "HopSkipJumpAttack",
    "QueryBudgetExhausted",
    "QueryCounter",
    "QueryTrace",
    "SimbaAttack",
    "StopAttack",
    "Target",
    "TargetFooled",
    "ThreatModel",
    "attack_base_name",
    "build_attack",
    "default_threat",
    "margin_of",
]
