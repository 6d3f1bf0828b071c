"""FP32 ONNX → INT8 Q/DQ ONNX by static quantization with ONNX Runtime's quantizer.

Two schemes of the same tool, because the two consumers want different integers:

* ``CPU_INT8`` — ONNX Runtime on the CPU: unsigned 8-bit activations (asymmetric), signed
  per-channel weights (U8S8), the pairing its CPU kernels run fastest. Clip and Softmax stay in
  float, so purified images and probabilities are not rounded to 8 bits.
* ``TENSORRT_INT8`` — TensorRT's explicit quantization: signed, symmetric 8-bit activations and
  per-channel weights (zero points 0, as TensorRT requires), Q/DQ only at convolution inputs
  (TensorRT's placement advice: quantize the inputs of weighted layers, not their outputs),
  biases left in float. Built into engines with ``BuilderFlag.INT8``, no calibrator. TensorRT
  cannot take the CPU graph (unsigned, asymmetric activations).

The graph is first prepared with ONNX Runtime's ``quant_pre_process`` (shape inference and
graph optimisation), as its quantizer recommends.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matt.errors import ExportError

CPU_OP_TYPES = ("Conv", "Gemm", "MatMul", "Add", "Mul", "Relu", "AveragePool",
                "GlobalAveragePool", "MaxPool", "Sigmoid")


@dataclass(frozen=True)
class QuantScheme:
    """How one INT8 variant is quantized.

    Attributes:
        variant: the manifest's variant name for files of this scheme.
        signed_activations: int8 (True) or uint8 (False) activations.
        symmetric_activations: zero point 0 for activations.
        op_types: the operators whose inputs get Q/DQ pairs.
        quantize_bias: store biases as int32 behind a DequantizeLinear.
    """

    variant: str
    signed_activations: bool
    symmetric_activations: bool
    op_types: tuple[str, ...]
    quantize_bias: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"format": "QDQ", "tool": "onnxruntime.quantization.quantize_static",
                "activations": ("int8" if self.signed_activations else "uint8")
                + (" symmetric" if self.symmetric_activations else " asymmetric"),
                "weights": "int8 symmetric per-channel", "calibration": "MinMax",
                "op_types": list(self.op_types), "quantize_bias": self.quantize_bias}


CPU_INT8 = QuantScheme("int8", signed_activations=False, symmetric_activations=False,
                       op_types=CPU_OP_TYPES)
TENSORRT_INT8 = QuantScheme("int8-symmetric", signed_activations=True,
                            symmetric_activations=True, op_types=("Conv",), quantize_bias=False,
                            extra={"OpTypesToExcludeOutputQuantization": ["Conv"]})


def _reader(input_name: str, batches: Sequence[np.ndarray]) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class _Batches(CalibrationDataReader):
        """Feeds the calibration batches once, as ONNX Runtime's calibrator asks."""

        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    return _Batches()


def quantize_onnx(fp32_path: Path, int8_path: Path, batches: Sequence[np.ndarray],
                  scheme: QuantScheme, input_name: str = "images") -> None:
    """Write the INT8 Q/DQ version of ``fp32_path`` to ``int8_path``, calibrated on ``batches``.

    Raises:
        ExportError: the quantizer failed (the message names the model).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not batches:
        raise ExportError(f"{fp32_path.name}: no calibration images to quantize with")
    activation_type = QuantType.QInt8 if scheme.signed_activations else QuantType.QUInt8
    options = {"ActivationSymmetric": scheme.symmetric_activations, "WeightSymmetric": True,
               "QuantizeBias": scheme.quantize_bias, **scheme.extra}
    handle, prepared = tempfile.mkstemp(dir=int8_path.parent, suffix=".pre.onnx")
    os.close(handle)
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs advice through root
    try:
        quant_pre_process(str(fp32_path), prepared)
        quantize_static(prepared, str(int8_path), _reader(input_name, batches),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=activation_type, weight_type=QuantType.QInt8,
                        op_types_to_quantize=list(scheme.op_types),
                        calibrate_method=CalibrationMethod.MinMax, extra_options=options)
    except Exception as exc:  # the quantizer raises many kinds
        int8_path.unlink(missing_ok=True)
        raise ExportError(f"{fp32_path.name}: INT8 quantization failed ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    finally:
        logging.getLogger().setLevel(quiet)
        Path(prepared).unlink(missing_ok=True)
