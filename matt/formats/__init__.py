"""The file formats: bundle manifest, ``weights.pt``, engine shape ranges, checksums, provenance.

The ground floor above :mod:`matt.core` and :mod:`matt.errors`: every stage (training, export,
runtime, serve, evaluation, bench) imports its formats from here, and nothing here imports a
stage. Everything but :mod:`matt.formats.weights` is torch-free; that one module (torch and
the model specs) is imported only by name, never from this package's namespace.
"""

from matt.formats.bundle import (
    CLASSIFIER_INPUT,
    CLASSIFIER_OUTPUT,
    INT8,
    INT8_SYMMETRIC,
    MANIFEST,
    PURIFIER_INPUT,
    PURIFIER_OUTPUT,
    SCHEMA_VERSION,
    Bundle,
    EngineVariant,
    Manifest,
    ModelFile,
    Variant,
    engine_variant_name,
    load_bundle,
    parse_manifest,
)
from matt.formats.checksums import read_sidecar, sha256_file, write_sidecar
from matt.formats.engine_shapes import ShapeRange, classifier_shape_range, purifier_shape_range
from matt.formats.provenance import Provenance, git_revision

__all__ = [
    "CLASSIFIER_INPUT", "CLASSIFIER_OUTPUT", "INT8", "INT8_SYMMETRIC", "MANIFEST",
    "PURIFIER_INPUT", "PURIFIER_OUTPUT", "SCHEMA_VERSION", "Bundle", "EngineVariant", "Manifest",
    "ModelFile", "Provenance", "ShapeRange", "Variant", "classifier_shape_range",
    "engine_variant_name", "git_revision", "load_bundle", "parse_manifest",
    "purifier_shape_range", "read_sidecar", "sha256_file", "write_sidecar",
]
