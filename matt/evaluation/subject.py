"""What is evaluated: a dataset's classifier, purifier pool and adversarially trained twin.

``--bundle`` names it: ``fmnist`` / ``cifar10`` (the shipped ``weights.pt``, with its ``-at``
twin when shipped), a ``weights.pt`` path, or an exported bundle folder (``manifest.json``),
whose ONNX engines serve ``none`` and ``matt`` only: the torch baselines need a ``weights.pt``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from matt.assets import POOLS, WEIGHTS_DIR
from matt.errors import InputError
from matt.formats.weights import WeightsFile, load_weights, sha256_of


@dataclass
class EvalSubject:
    """The models a defense is built from; ``weights`` and ``bundle_dir`` may each be absent.

    Attributes:
        dataset: the dataset the classifier was trained on (``fmnist``, ``cifar10``).
        input_shape: (C, H, W) of one image.
        class_names: by class index.
        weights: the standard classifier and pool (torch reference), if given.
        at_weights: the adversarially trained classifier (and its pool), if given.
        bundle_dir: an exported bundle run by the runtime (ONNX Runtime), if given.
        remote_url, remote_protocol: a live ``matt-serve`` server serving this bundle, if any.
        sources: where each came from, with checksums, for the results file.
    """

    dataset: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    weights: WeightsFile | None = None
    at_weights: WeightsFile | None = None
    bundle_dir: Path | None = None
    sources: dict[str, str] = field(default_factory=dict)
    remote_url: str | None = None
    remote_protocol: str = "http"
    weights_sha256: str | None = None
    _pipelines: dict[tuple[bool, int | None, int | None], Any] = field(
        default_factory=dict, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def pool_size(self) -> int:
        if self.weights is not None:
            return len(self.weights.pool)
        return self.pipeline().pool_size

    @functools.cached_property
    def classifier(self) -> nn.Module:
        return self._need_weights("the undefended classifier").build_classifier()

    @functools.cached_property
    def at_classifier(self) -> nn.Module:
        return self._need_at().build_classifier()

    @functools.cached_property
    def pool(self) -> list[nn.Module]:
        return self._need_weights("the purifier pool").build_pool()

    def pipeline(self, adversarially_trained: bool = False, pool: int | None = None,
                 patch: int | None = None) -> Any:
        """The runtime pipeline over this subject (ONNX Runtime for a bundle, else torch);
        loaded once per setting and shared; callers take ``with_seed`` views."""
        key = (adversarially_trained, pool, patch)
        if key not in self._pipelines:
            self._pipelines[key] = self._load_pipeline(*key)
        return self._pipelines[key]

    def whole_image_pipeline(self, member: int, halo: int) -> Any:
        """One purifier on the whole image through the runtime bundle (DISCO as deployed):
        a single window, the image padded by ``halo`` replicated edge pixels."""
        from matt.runtime import Pipeline

        if self.bundle_dir is None:
            raise InputError("a whole-image runtime pipeline needs --runtime-bundle")
        side = max(self.input_shape[1:])
        return Pipeline.load(self.bundle_dir, backend="onnxruntime", pool=[member], patch=side,
                             halo=halo, fused="off")

    def _load_pipeline(self, adversarially_trained: bool, pool: int | None,
                       patch: int | None) -> Any:
        from matt.runtime import Pipeline

        if adversarially_trained:
            return Pipeline.from_weights(self._need_at(), pool=pool, patch=patch)
        if self.bundle_dir is not None:
            return Pipeline.load(self.bundle_dir, backend="onnxruntime", pool=pool, patch=patch)
        return Pipeline.from_weights(self._need_weights("MATT"), pool=pool, patch=patch)

    def _need_weights(self, what: str) -> WeightsFile:
        if self.weights is None:
            raise InputError(f"{what} needs a weights.pt (the torch reference); "
                             f"{self.bundle_dir} is an exported bundle: pass --bundle with the "
                             "weights.pt it was exported from, or evaluate only none,matt")
        return self.weights

    def _need_at(self) -> WeightsFile:
        if self.at_weights is None:
            raise InputError("defenses at and matt-at need an adversarially trained classifier; "
                             "pass --at-weights PATH (shipped: fmnist-at) or drop them from "
                             "--defenses")
        return self.at_weights


def resolve_subject(bundle: str, at_weights: str | None = None,
                    runtime_bundle: str | None = None) -> EvalSubject:
    """Read ``--bundle`` (and ``--at-weights``) into an :class:`EvalSubject`.

    ``runtime_bundle``: a bundle exported from the same weights; MATT then runs on ONNX Runtime
    (as deployed) while the torch baselines use the weights.
    """
    subject = _resolve(bundle, at_weights)
    if runtime_bundle is not None:
        _attach_runtime_bundle(subject, Path(runtime_bundle))
    return subject


def _attach_runtime_bundle(subject: EvalSubject, folder: Path) -> None:
    from matt.formats.bundle import load_bundle

    if subject.weights is None:
        raise InputError("--runtime-bundle goes with --bundle naming a weights.pt")
    if not (folder / "manifest.json").is_file():
        raise InputError(f"--runtime-bundle {folder}: no manifest.json; export one with "
                         "matt-export WEIGHTS -o FOLDER")
    manifest = load_bundle(folder).manifest
    exported_from = str(manifest.export.get("weights_sha256"))
    if exported_from != subject.weights_sha256:
        raise InputError(f"--runtime-bundle {folder} was exported from other weights (sha256 "
                         f"{exported_from[:16]}, the weights {str(subject.weights_sha256)[:16]})")
    subject.bundle_dir = folder
    subject.sources["runtime_bundle"] = f"{folder} (ONNX Runtime)"


def _resolve(bundle: str, at_weights: str | None) -> EvalSubject:
    at_path = Path(at_weights) if at_weights else None
    if bundle in POOLS:
        path = WEIGHTS_DIR / f"{bundle}.pt"
        if not path.is_file():
            raise InputError(f"--bundle {bundle}: the shipped weights {path} are not there yet; "
                             "train them (matt-train) or pass a weights.pt path")
        shipped_at = WEIGHTS_DIR / f"{bundle}-at.pt"
        if at_path is None and shipped_at.is_file():
            at_path = shipped_at
        return _from_weights(path, at_path)
    path = Path(bundle)
    if path.is_file():
        return _from_weights(path, at_path)
    if (path / "manifest.json").is_file():
        return _from_bundle(path, at_path)
    raise InputError(f"--bundle {bundle!r} is neither {' nor '.join(POOLS)}, a weights.pt file "
                     "nor a bundle folder with manifest.json")


def _from_weights(path: Path, at_path: Path | None) -> EvalSubject:
    weights = load_weights(path)
    subject = EvalSubject(weights.dataset, weights.input_shape, weights.class_names,
                          weights=weights, sources={"weights": _describe(path)},
                          weights_sha256=sha256_of(path))
    _attach_at(subject, at_path)
    return subject


def _from_bundle(path: Path, at_path: Path | None) -> EvalSubject:
    from matt.formats.bundle import load_bundle

    manifest = load_bundle(path).manifest
    subject = EvalSubject(manifest.dataset, tuple(manifest.input_shape),  # type: ignore[arg-type]
                          tuple(manifest.class_names), bundle_dir=path,
                          sources={"bundle": str(path)})
    _attach_at(subject, at_path)
    return subject


def _attach_at(subject: EvalSubject, at_path: Path | None) -> None:
    if at_path is None:
        return
    at_weights = load_weights(at_path)
    if at_weights.input_shape != subject.input_shape:
        raise InputError(f"--at-weights {at_path} takes {at_weights.input_shape} images, the "
                         f"bundle {subject.input_shape}; they must be of the same dataset")
    subject.at_weights = at_weights
    subject.sources["at_weights"] = _describe(at_path)


def _describe(path: Path) -> str:
    return f"{path} (sha256 {sha256_of(path)[:16]})"
