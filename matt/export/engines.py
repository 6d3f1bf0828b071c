"""Build a TensorRT engine for every model of a bundle and list them as manifest variants.

FP32 and FP16 engines are built from the FP32 graphs; INT8 engines from the symmetric Q/DQ
graphs (variant ``int8-symmetric``) that :mod:`matt.calibration` wrote before. Each engine
becomes ``variants["tensorrt-<precision>"]`` of its model, with its optimization profile, the
TensorRT version and the GPU it was built on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from matt.errors import ExportError
from matt.export.options import ExportOptions
from matt.export.tensorrt import TensorRTTarget, build_engine, default_timing_cache, engine_entry
from matt.formats.bundle import (
    INT8_SYMMETRIC,
    Manifest,
    ModelFile,
    engine_variant_name,
    parse_variant,
    sha256_file,
)
from matt.formats.engine_shapes import ShapeRange, classifier_shape_range, purifier_shape_range

SOURCE_VARIANT = {"fp32": None, "fp16": None, "int8": INT8_SYMMETRIC}


def engine_variant(precision: str) -> str:
    """The manifest's variant name of an engine: ``tensorrt-fp16`` and so on."""
    return engine_variant_name(precision)


def plan_file(model_file: str, precision: str) -> str:
    """``purifiers/p0.onnx`` → ``purifiers/p0.fp16.plan``."""
    return f"{model_file.removesuffix('.onnx')}.{precision}.plan"


def engine_shapes(manifest: Manifest, options: ExportOptions) -> tuple[ShapeRange, ShapeRange]:
    """The purifiers' and the classifier's optimization profiles for this bundle."""
    purifier = purifier_shape_range(manifest.input_shape, manifest.patch, manifest.halo,
                                    len(manifest.purifiers), opt_images=options.opt_images,
                                    max_images=options.max_images)
    classifier = classifier_shape_range(manifest.input_shape, opt_images=options.opt_images,
                                        max_images=options.max_images)
    return purifier, classifier


def _source(model: ModelFile, precision: str) -> str:
    variant = SOURCE_VARIANT[precision]
    if variant is None:
        return model.file
    if variant not in model.variants:
        raise ExportError(f"{model.name}: no {variant} graph to build a {precision} engine from; "
                          "quantize first (matt-export --precision int8)")
    return str(model.variants[variant]["file"])


def build_engines(root: Path, manifest: Manifest, options: ExportOptions, target: TensorRTTarget,
                  echo: Callable[[str], None]) -> Manifest:
    """Build every engine under ``root``; return the manifest listing them."""
    precision = options.precision
    cache = options.timing_cache or default_timing_cache()
    purifier_shapes, classifier_shapes = engine_shapes(manifest, options)

    def built(model: ModelFile, shapes: ShapeRange) -> ModelFile:
        source = _source(model, precision)
        relative = plan_file(model.file, precision)
        echo(f"  tensorrt: {model.name} {precision} on {target.gpu_name}")
        build_engine(root / source, root / relative, shapes, precision, cache)
        entry = engine_entry(relative, sha256_file(root / relative), precision, source, shapes,
                             target)
        name = engine_variant(precision)
        return replace(model, variants={**model.variants, name: parse_variant(name, entry)})

    purifiers = tuple(built(model, purifier_shapes) for model in manifest.purifiers)
    classifier = built(manifest.classifier, classifier_shapes)
    return replace(manifest, purifiers=purifiers, classifier=classifier,
                   export={**manifest.export, "tensorrt": {**target.describe(),
                                                           "timing_cache": str(cache)}})
