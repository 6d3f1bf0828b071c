"""The bundle format: what ``matt-export`` writes and the runtime and server read, without torch.

A bundle is a folder::

    manifest.json            schema version, input spec, tiling defaults, class names, models
    purifiers/<name>.onnx    per pool member: "images" [N, C, H, W] → "purified", dynamic N, H, W
    classifier.onnx          "images" [N, C, H, W] → "probabilities", dynamic N
    [*.int8.onnx, *.plan]    quantized graphs and TensorRT engines, when exported

Every file is listed with its sha256; :func:`load_bundle` refuses a bundle whose schema version
differs or whose files do not match, naming the file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from matt.errors import BundleError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
PURIFIER_INPUT, PURIFIER_OUTPUT = "images", "purified"
CLASSIFIER_INPUT, CLASSIFIER_OUTPUT = "images", "probabilities"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelFile:
    """One file of the bundle and its checksum; ``variants`` maps a precision or engine kind
    (``int8``, ``tensorrt-fp16``, ...) to another file of the same model."""

    name: str
    file: str
    sha256: str
    spec: dict[str, Any]
    parameters: int
    macs_per_pixel: int
    receptive_radius: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    dataset: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    patch: int
    halo: int
    purifiers: tuple[ModelFile, ...]
    classifier: ModelFile
    parity: dict[str, Any] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        data = asdict(self)
        data["input"] = {"layout": "NCHW", "dtype": "float32", "range": [0.0, 1.0],
                         "shape": list(self.input_shape)}
        data["normalization"] = "inside the graphs: every model takes images in [0, 1]"
        return json.dumps(data, indent=2, sort_keys=False) + "\n"


def _model(data: dict[str, Any]) -> ModelFile:
    return ModelFile(**data)


def parse_manifest(text: str, where: str = MANIFEST) -> Manifest:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{where}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{where}: expected a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(f"{where}: schema version {version!r}, this matt reads "
                          f"{SCHEMA_VERSION}; re-export the bundle with this matt-export")
    try:
        return Manifest(
            dataset=str(data["dataset"]),
            input_shape=tuple(int(v) for v in data["input_shape"]),  # type: ignore[arg-type]
            class_names=tuple(str(v) for v in data["class_names"]),
            patch=int(data["patch"]), halo=int(data["halo"]),
            purifiers=tuple(_model(m) for m in data["purifiers"]),
            classifier=_model(data["classifier"]),
            parity=dict(data.get("parity", {})), export=dict(data.get("export", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{where}: malformed manifest ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class Bundle:
    """A verified bundle folder."""

    root: Path
    manifest: Manifest

    def path(self, relative: str) -> Path:
        return self.root / relative

    def purifier_path(self, index: int, variant: str | None = None) -> Path:
        model = self.manifest.purifiers[index]
        return self.path(model.variants[variant]["file"] if variant else model.file)

    def classifier_path(self, variant: str | None = None) -> Path:
        model = self.manifest.classifier
        return self.path(model.variants[variant]["file"] if variant else model.file)

    def variants(self) -> set[str]:
        """Variants every purifier has (``int8``, ``tensorrt-fp16``, ...)."""
        sets = [set(m.variants) for m in self.manifest.purifiers]
        return set.intersection(*sets) if sets else set()


def _check(root: Path, relative: str, expected: str) -> None:
    path = (root / relative).resolve()
    if root.resolve() not in path.parents:
        raise BundleError(f"{relative}: points outside the bundle")
    if not path.is_file():
        raise BundleError(f"{relative}: listed in {MANIFEST} but missing from {root}")
    if sha256_file(path) != expected:
        raise BundleError(f"{relative}: sha256 does not match {MANIFEST}; the file was changed "
                          "or truncated, re-export the bundle")


def load_bundle(root: str | Path, verify: bool = True) -> Bundle:
    """Read ``manifest.json`` and verify every listed file against its sha256."""
    root = Path(root)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{root}: not a bundle (no {MANIFEST}); make one with matt-export")
    manifest = parse_manifest(manifest_path.read_text(), str(manifest_path))
    if verify:
        for model in (*manifest.purifiers, manifest.classifier):
            _check(root, model.file, model.sha256)
            for variant in model.variants.values():
                if "sha256" in variant:
                    _check(root, variant["file"], variant["sha256"])
    return Bundle(root, manifest)
