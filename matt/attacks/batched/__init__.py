"""Batched attacks: every image of a cell advances together, one target call per step.

A MATT query costs a whole pipeline call; attacking image by image spends that call on a
batch of one. Here all images still under attack send their step's queries in one call, and
:class:`BatchCounter` keeps each image's accounting exact (its own budget, the truncation of
the step that crosses it, its first wrong answer, its candidate at each budget).
"""

from matt.attacks.batched.base import BatchedAttack
from matt.attacks.batched.counter import BatchCounter
from matt.attacks.batched.nes import BatchedNes, EotNes
from matt.attacks.batched.square import BatchedSquare, EotSquare

__all__ = ["BatchCounter", "BatchedAttack", "BatchedNes", "BatchedSquare", "EotNes",
           "EotSquare"]
