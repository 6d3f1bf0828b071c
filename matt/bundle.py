"""Moved to :mod:`matt.formats.bundle` (the formats floor); kept so older imports work."""

from matt.formats.bundle import (
    CLASSIFIER_INPUT,
    CLASSIFIER_OUTPUT,
    MANIFEST,
    PURIFIER_INPUT,
    PURIFIER_OUTPUT,
    SCHEMA_VERSION,
    Bundle,
    EngineVariant,
    Manifest,
    ModelFile,
    Variant,
    load_bundle,
    parse_manifest,
)
from matt.formats.checksums import sha256_file

__all__ = [
    "CLASSIFIER_INPUT", "CLASSIFIER_OUTPUT", "MANIFEST", "PURIFIER_INPUT", "PURIFIER_OUTPUT",
    "SCHEMA_VERSION", "Bundle", "EngineVariant", "Manifest", "ModelFile", "Variant",
    "load_bundle", "parse_manifest", "sha256_file",
]
