"""What the benchmark times: the defended model, its pool fitted to the largest K, its bundles.

The subject is a ``weights.pt`` (the shipped ``cifar10`` by default). Latency does not depend
on trained values, so where the pool has fewer members than the largest K asked for, members
with random weights and the same specs (cycling through the pool) stand in for the missing
ones; where no weights are shipped yet, the whole subject is a random-init stand-in with the
training presets' specs. The results say which, and how many members were trained.

ONNX Runtime and GPU rows run on bundles that the benchmark exports itself into a temporary
folder: one for the subject's own image size, and one per other size (the same purifier graphs,
whose height and width are dynamic, with the classifier exported again for that size).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from matt.errors import ExportError, InputError, MattError, WeightsError
from matt.formats.weights import (
    PoolMember,
    TilingDefaults,
    WeightsFile,
    load_weights,
    save_weights,
    sha256_of,
)
from matt.models import ClassifierSpec, PurifierSpec, build_classifier, build_purifier

EXPORT_CHECK_IMAGES = 4  # the export's own parity check; the benchmark is not the parity test
STAND_IN_NOTE = "random init: stands in for a trained member; latency does not depend on values"


@dataclass
class Subject:
    """The defended model under test.

    Attributes:
        weights: the weights with a pool of at least the largest K members.
        source: where the weights came from and how many members are trained.
    """

    weights: WeightsFile
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def native_size(self) -> int:
        return self.weights.input_shape[1]

    @property
    def channels(self) -> int:
        return self.weights.input_shape[0]

    def patch_for(self, size: int, patch: int | None) -> int:
        """``patch`` if given, else the shipped patch grid (patches per side) kept at ``size``."""
        if patch is not None:
            return patch
        per_side = math.ceil(self.native_size / self.weights.tiling.patch)
        return math.ceil(size / per_side)

    def halo(self, halo: int | None) -> int:
        return self.weights.tiling.halo if halo is None else halo


def _stand_in_specs(channels: int) -> list[PurifierSpec]:
    """The training presets (one member per encoder × depth), as the shipped pool has them."""
    from matt.training.pool import DEPTH_PRESETS

    return [PurifierSpec(encoder=encoder, features=depth, blocks=blocks,
                         decoder_widths=decoder, channels=channels)
            for (encoder, depth), (blocks, decoder) in DEPTH_PRESETS.items()]


def _random_member(name: str, spec: PurifierSpec, seed: int) -> PoolMember:
    torch.manual_seed(seed)
    purifier = build_purifier(spec).eval()
    return PoolMember(name, spec, purifier.state_dict(), {"data": STAND_IN_NOTE})


def stand_in_weights(pool_size: int, seed: int = 0) -> WeightsFile:
    """A CIFAR-10-shaped subject with random weights: the shipped shapes, no training."""
    specs = _stand_in_specs(3)
    members = [_random_member(f"standin-{i}", specs[i % len(specs)], seed + i)
               for i in range(pool_size)]
    classifier_spec = ClassifierSpec("resnet", num_classes=10, channels=3)
    torch.manual_seed(seed)
    classifier = build_classifier(classifier_spec).eval()
    halo = max(member.spec.receptive_radius for member in members)
    return WeightsFile(
        dataset="cifar10", input_shape=(3, 32, 32),
        class_names=tuple(f"class{i}" for i in range(10)),
        tiling=TilingDefaults(patch=8, halo=halo), classifier_spec=classifier_spec,
        classifier_state=classifier.state_dict(), pool=members,
        provenance={"data": "random-init stand-in (no shipped weights yet)"},
    )


def fit_pool(weights: WeightsFile, pool_size: int, seed: int = 0) -> WeightsFile:
    """The first ``pool_size`` members; random-init ones (specs cycling) where there are fewer."""
    pool = list(weights.pool[:pool_size])
    specs = [member.spec for member in weights.pool]
    for index in range(len(pool), pool_size):
        pool.append(_random_member(f"standin-{index}", specs[index % len(specs)], seed + index))
    return replace(weights, pool=pool)


def resolve_weights_path(name_or_path: str | None) -> Path | None:
    """A shipped name (``cifar10``, ``fmnist``) or a path; ``None`` → shipped default if any."""
    from matt.assets import DEFAULT_BUNDLE, WEIGHTS_DIR, shipped_weights

    if name_or_path is None:
        default = WEIGHTS_DIR / f"{DEFAULT_BUNDLE}.pt"
        return default if default.is_file() else None
    path = Path(name_or_path)
    if path.suffix == ".pt" or path.exists() or "/" in name_or_path:
        if not path.is_file():
            raise WeightsError(f"{path}: no such weights file; pass a weights.pt or a shipped "
                               "name such as cifar10")
        return path
    return shipped_weights(name_or_path)


def bundle_weights(bundle: Path, name_or_path: str | None) -> Path:
    """The ``weights.pt`` that ``bundle`` was exported from: ``--weights`` when it is that
    file, else the shipped one with the sha256 the bundle's manifest records.

    Raises:
        InputError: ``--weights`` is another file, or none is given and no shipped weights
            match (the torch rows would time other models than the bundle's).
    """
    from matt.assets import WEIGHTS_DIR
    from matt.formats.bundle import load_bundle

    export = load_bundle(bundle, verify=False).manifest.export
    recorded = export.get("weights_sha256")
    origin = f"{export.get('weights_file', 'a weights.pt')} (sha256 {str(recorded)[:12]}…)"
    if name_or_path is not None:
        path = resolve_weights_path(name_or_path)
        assert path is not None
        if recorded is not None and sha256_of(path) != recorded:
            raise InputError(f"--weights {name_or_path} is not what --bundle {bundle} was "
                             f"exported from ({origin}); pass that file, or leave --weights out")
        return path
    for candidate in sorted(WEIGHTS_DIR.glob("*.pt")):
        if recorded is not None and sha256_of(candidate) == recorded:
            return candidate
    raise InputError(f"--bundle {bundle} was exported from {origin}, which is not shipped; "
                     "pass that file with --weights")


def load_subject(name_or_path: str | None, pool_size: int) -> Subject:
    """The subject for ``--weights``, its pool cut or grown to ``pool_size`` members."""
    path = resolve_weights_path(name_or_path)
    if path is None:
        weights = stand_in_weights(pool_size)
        return Subject(weights, {"weights": "random-init stand-in (no shipped weights found)",
                                 "trained_members": 0, "pool_size": pool_size,
                                 "specs": sorted({m.spec.name for m in weights.pool})})
    weights = load_weights(path)
    trained = min(len(weights.pool), pool_size)
    fitted = fit_pool(weights, pool_size)
    return Subject(fitted, {"weights": str(path), "sha256": sha256_of(path),
                            "dataset": weights.dataset, "shipped_pool_size": len(weights.pool),
                            "trained_members": trained, "pool_size": pool_size,
                            "stand_in_members": pool_size - trained,
                            "specs": sorted({m.spec.name for m in fitted.pool})})


class BundleCache:
    """Bundles of the subject exported into a temporary folder, one per image size.

    Exported by :func:`matt.export.export_bundle` (FP32 ONNX, INT8 Q/DQ variants when asked,
    TensorRT engines on a GPU that has TensorRT). A bundle given by the user (``--bundle``)
    serves its own image size as it is.
    """

    def __init__(self, subject: Subject, given: Path | None = None, *, int8: bool = False,
                 tensorrt: bool = False, calibration_images: int = 64) -> None:
        self.subject = subject
        self.int8, self.tensorrt = int8, tensorrt
        self.calibration_images = calibration_images
        self._temporary = tempfile.TemporaryDirectory(prefix="matt-bench-")
        self.root = Path(self._temporary.name)
        self._bundles: dict[int, Path] = {}
        self._failures: dict[int, str] = {}
        if given is not None:
            from matt.formats.bundle import load_bundle

            shape = load_bundle(given).manifest.input_shape
            self._bundles[shape[1]] = Path(given)

    def bundle_for(self, size: int) -> Path:
        """The bundle for ``size``×``size`` images; an export that failed is not retried."""
        if size in self._failures:
            raise ExportFailed(self._failures[size])
        if size not in self._bundles:
            try:
                self._bundles[size] = self._export(size)
            except MattError as exc:
                self._failures[size] = f"export for {size}x{size} failed: {exc}"
                raise ExportFailed(self._failures[size]) from None
        return self._bundles[size]

    def _export(self, size: int) -> Path:
        if size != self.subject.native_size:
            return self._resized(self.bundle_for(self.subject.native_size), size)
        from matt.export import export_bundle
        from matt.export.options import ExportOptions

        weights_path = save_weights(self.subject.weights, self.root / "weights.pt")
        options = ExportOptions(precision="int8" if self.int8 else "fp32",
                                engine="tensorrt" if self.tensorrt else "none",
                                check_images=EXPORT_CHECK_IMAGES,
                                calibration_images=self.calibration_images)
        return export_bundle(weights_path, self.root / f"bundle-{size}", options=options)

    def _resized(self, source: Path, size: int) -> Path:
        """The bundle for another image size: the same purifier files (their height and width
        are dynamic, their INT8 ranges were calibrated on windows of the same patch + halo),
        the classifier exported again for ``size``×``size`` (FP32 only) where it can take that
        size; where it cannot (a fixed-size dense head), the original stays and only the
        classifier rows of that size fail, with the reason."""
        from matt.export.onnx import export_classifier
        from matt.formats.bundle import MANIFEST, load_bundle, sha256_file

        manifest = load_bundle(source).manifest
        target = self.root / f"bundle-{size}"
        shutil.copytree(source, target)
        shape = (self.subject.channels, size, size)
        note: dict[str, Any] = {"resized_by": "matt-bench",
                                "resized_from": list(manifest.input_shape)}
        classifier, module = manifest.classifier, self.subject.weights.build_classifier()
        try:
            with torch.inference_mode():
                module(torch.rand(1, *shape))
            export_classifier(module, shape, target / "classifier.onnx")
            classifier = replace(classifier, variants={},
                                 sha256=sha256_file(target / "classifier.onnx"))
        except (RuntimeError, MattError) as exc:
            note["classifier_not_resized"] = f"{type(exc).__name__}: {exc}"
        resized = replace(manifest, input_shape=shape, classifier=classifier,
                          patch=self.subject.patch_for(size, None),
                          export={**manifest.export, **note})
        (target / MANIFEST).write_text(resized.to_json())
        load_bundle(target)
        return target

    def describe(self) -> dict[str, Any]:
        """Per image size: the bundle's export record, or why the export failed."""
        from matt.formats.bundle import load_bundle

        described: dict[str, Any] = {str(size): {"failed": why}
                                     for size, why in self._failures.items()}
        for size, path in self._bundles.items():
            manifest = load_bundle(path, verify=False).manifest
            described[str(size)] = {
                "given": not path.is_relative_to(self.root), "export": manifest.export,
                "variants": sorted(set().union(*(m.variants for m in manifest.purifiers))),
            }
        return described

    def close(self) -> None:
        self._temporary.cleanup()

    def __enter__(self) -> BundleCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


ExportFailed = ExportError
"""The benchmark could not export the subject for one image size (matt's ExportError)."""
