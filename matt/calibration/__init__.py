"""Calibration sets from a bundle's data and INT8 static quantization to Q/DQ ONNX."""

from matt.calibration.datasets import (
    ImageSet,
    calibration_images,
    evaluation_images,
    load_calibration_source,
)
from matt.calibration.int8 import quantize_bundle, variant_file
from matt.calibration.quantize import CPU_INT8, TENSORRT_INT8, QuantScheme, quantize_onnx

__all__ = [
    "CPU_INT8",
    "TENSORRT_INT8",
    "ImageSet",
    "QuantScheme",
    "calibration_images",
    "evaluation_images",
    "load_calibration_source",
    "quantize_bundle",
    "quantize_onnx",
    "variant_file",
]
