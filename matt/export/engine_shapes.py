"""Moved to :mod:`matt.formats.engine_shapes` (a file format, not an export step); kept so
older imports work."""

from matt.formats.engine_shapes import ShapeRange, classifier_shape_range, purifier_shape_range

__all__ = ["ShapeRange", "classifier_shape_range", "purifier_shape_range"]
