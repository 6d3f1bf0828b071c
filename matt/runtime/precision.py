"""Which files of a bundle a pipeline loads: the selected pool members at one precision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matt.bundle import Bundle
from matt.errors import BundleError, InputError

PRECISIONS = ("fp32", "fp16", "int8")


def select_pool(pool: int | Sequence[int] | None, pool_size: int) -> tuple[int, ...]:
    """``None`` → every purifier; ``K`` → the first K; a list → those indices, in that order."""
    if pool is None:
        return tuple(range(pool_size))
    if isinstance(pool, bool):
        raise InputError(f"pool must be None, a count or a list of indices, got {pool!r}")
    if isinstance(pool, int):
        if not 1 <= pool <= pool_size:
            raise InputError(f"pool of {pool}: the bundle has {pool_size} purifiers, "
                             f"choose 1 to {pool_size}")
        return tuple(range(pool))
    indices = tuple(pool)
    if not indices:
        raise InputError("pool: the list of purifier indices is empty")
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < pool_size:
            raise InputError(f"pool index {index!r} is not one of the bundle's purifiers "
                             f"0..{pool_size - 1}")
    if len(set(indices)) != len(indices):
        raise InputError(f"pool indices must be distinct, got {list(indices)}")
    return indices


def check_precision(precision: str, supported: Sequence[str], backend: str) -> None:
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision not in supported:
        raise InputError(f"backend {backend!r} runs {', '.join(supported)}, not {precision}")


@dataclass(frozen=True)
class ModelSelection:
    """The ONNX files ONNX Runtime loads: one per selected purifier and the classifier.

    ``int8`` takes each purifier's ``int8`` variant (the Q/DQ graph the calibration step
    writes) and the classifier's when it has one; ``fp32`` the float32 graphs. (TensorRT picks
    its own sources: :mod:`matt.runtime.engines.trt_engine`.)
    """

    pool_indices: tuple[int, ...]
    purifier_files: tuple[Path, ...]
    classifier_file: Path
    precision: str

    @classmethod
    def from_bundle(cls, bundle: Bundle, pool_indices: tuple[int, ...],
                    precision: str) -> ModelSelection:
        variant = "int8" if precision == "int8" else None
        purifiers = bundle.manifest.purifiers
        if variant is not None:
            missing = [purifiers[i].name for i in pool_indices
                       if variant not in purifiers[i].variants]
            if missing:
                raise BundleError(f"{bundle.root}: no {variant} variant for purifier(s) "
                                  f"{', '.join(missing)}; quantize the bundle first "
                                  "(the calibration step of matt-export) or use precision fp32")
        classifier_variant = variant if variant in bundle.manifest.classifier.variants else None
        return cls(
            pool_indices=pool_indices,
            purifier_files=tuple(bundle.purifier_path(i, variant) for i in pool_indices),
            classifier_file=bundle.classifier_path(classifier_variant),
            precision=precision,
        )
