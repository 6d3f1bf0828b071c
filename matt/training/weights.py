"""Moved to :mod:`matt.formats.weights` (the formats floor); kept so older imports work."""

from matt.formats.weights import (
    FORMAT,
    VERSION,
    PoolMember,
    Provenance,
    TilingDefaults,
    WeightsFile,
    git_revision,
    load_weights,
    save_weights,
    sha256_of,
)

__all__ = ["FORMAT", "VERSION", "PoolMember", "Provenance", "TilingDefaults", "WeightsFile",
           "git_revision", "load_weights", "save_weights", "sha256_of"]
