"""The torch reference of MATT's random patch-wise purification, and the baselines."""

from matt.defense.aaa import AaaLinear
from matt.defense.base import Defense, check_image_tensor
from matt.defense.baselines import (
    BitDepth,
    DiscoDeterministic,
    DiscoEnsembleDefense,
    GaussianNoise,
    Jpeg,
    MedianSmoothing,
    NoDefense,
)
from matt.defense.patchwise import RandomPatchPurifier

__all__ = [
    "AaaLinear",
    "BitDepth",
    "Defense",
    "DiscoDeterministic",
    "DiscoEnsembleDefense",
    "GaussianNoise",
    "Jpeg",
    "MedianSmoothing",
    "NoDefense",
    "RandomPatchPurifier",
    "check_image_tensor",
]
