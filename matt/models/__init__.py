"""Torch modules: purifiers, the DISCO reference, classifiers."""

from matt.models.classifiers import CLASSIFIERS, build_classifier
from matt.models.disco import DiscoEnsemble, DiscoSpec, LiifPurifier
from matt.models.encoders import ENCODERS
from matt.models.layers import macs_per_pixel, receptive_radius
from matt.models.purifier import Purifier, build_purifier, purify_whole
from matt.models.specs import ClassifierSpec, PurifierSpec

__all__ = [
    "CLASSIFIERS",
    "ENCODERS",
    "ClassifierSpec",
    "DiscoEnsemble",
    "DiscoSpec",
    "LiifPurifier",
    "Purifier",
    "PurifierSpec",
    "build_classifier",
    "build_purifier",
    "macs_per_pixel",
    "purify_whole",
    "receptive_radius",
]
