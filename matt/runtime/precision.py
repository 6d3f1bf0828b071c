"""Which files of a bundle ONNX Runtime loads: the selected pool members at one precision."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matt.errors import BundleError
from matt.formats.bundle import INT8, Bundle


@dataclass(frozen=True)
class ModelSelection:
    """The ONNX files ONNX Runtime loads: one per selected purifier and the classifier.

    ``int8`` takes each purifier's ``int8`` variant (the Q/DQ graph the calibration step
    writes) and the classifier's when it has one; ``fp32`` the float32 graphs. (TensorRT picks
    its own sources: :mod:`matt.runtime.engines.trt_engine`.) ``fused_file`` is the bundle's
    graph holding every purifier at that precision, ``None`` where it has none.
    """

    pool_indices: tuple[int, ...]
    purifier_files: tuple[Path, ...]
    classifier_file: Path
    precision: str
    fused_file: Path | None = None

    @classmethod
    def from_bundle(cls, bundle: Bundle, pool_indices: tuple[int, ...],
                    precision: str) -> ModelSelection:
        variant = INT8 if precision == "int8" else None
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
            fused_file=bundle.fused_path(variant or "fp32"),
        )
