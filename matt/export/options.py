"""What ``matt-export`` is asked to do, validated once, before any file is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matt.errors import InputError
from matt.export.onnx import DEFAULT_OPSET

ENGINES = ("none", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")
MIN_OPSET, MAX_OPSET = 17, 23
PARITY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportOptions:
    """The choices of one export.

    Attributes:
        opset: ONNX opset of the graphs.
        engine: ``none`` (ONNX only) or ``tensorrt`` (also build TensorRT engines; needs a GPU).
        precision: ``fp32``; ``fp16`` (TensorRT engines only); ``int8`` (Q/DQ ONNX variants for
            ONNX Runtime and, with ``engine="tensorrt"``, INT8 engines built from them).
        calibration: where INT8 calibration images come from: ``auto`` (the bundle's dataset),
            ``random`` (uniform noise, recorded as such), or a path (a ``.npy`` array of
            N×C×H×W images in [0, 1], a CIFAR-10 python folder or an image-folder tree).
        calibration_images: images drawn for calibration.
        check_images: real images of the bundle's dataset used for the parity check and the
            INT8 quality figures.
        tolerance: largest max-abs difference allowed between ONNX Runtime and torch.
        members: pool members to export, by name; empty exports the whole pool.
        max_images: TensorRT profiles: the largest request batch (images) the runtime sends.
        opt_images: TensorRT profiles: the request batch (images) the engines are tuned for.
        timing_cache: TensorRT timing cache file, reused and updated across exports.
        seed: fixes which images are drawn for calibration, so an export is reproducible.
        fused: also write every purifier in one graph (``fused`` in the manifest), which the
            runtime runs in one call per query.
    """

    opset: int = DEFAULT_OPSET
    engine: str = "none"
    precision: str = "fp32"
    calibration: str = "auto"
    calibration_images: int = 256
    check_images: int = 64
    tolerance: float = PARITY_TOLERANCE
    members: tuple[str, ...] = ()
    max_images: int = 64
    opt_images: int = 16
    timing_cache: Path | None = None
    seed: int = 0
    fused: bool = True

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InputError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, "
                             f"not {self.precision!r}")
        if self.precision == "fp16" and self.engine != "tensorrt":
            raise InputError("--precision fp16 builds TensorRT engines; add --engine tensorrt "
                             "(ONNX Runtime on the CPU has no fast FP16, use int8 there)")
        if not isinstance(self.opset, int) or not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise InputError(f"opset must be an integer in {MIN_OPSET}..{MAX_OPSET}, "
                             f"got {self.opset!r}")
        for name in ("calibration_images", "check_images", "max_images", "opt_images"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name.replace('_', '-')} must be a positive integer, "
                                 f"got {value!r}")
        if self.opt_images > self.max_images:
            raise InputError(f"opt-images ({self.opt_images}) must not exceed max-images "
                             f"({self.max_images})")
        if not self.tolerance > 0:
            raise InputError(f"parity tolerance must be > 0, got {self.tolerance!r}")
        if not self.calibration:
            raise InputError("calibration source is empty; pass auto, random or a path")
        if len(set(self.members)) != len(self.members):
            raise InputError(f"pool members listed twice: {list(self.members)}")

    @property
    def int8(self) -> bool:
        return self.precision == "int8"

    @property
    def tensorrt(self) -> bool:
        return self.engine == "tensorrt"
