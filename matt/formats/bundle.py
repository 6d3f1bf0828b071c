"""The bundle format: what ``matt-export`` writes and the runtime and server read, without torch.

A bundle is a folder::

    manifest.json            schema version, input spec, tiling defaults, class names, models
    purifiers/<name>.onnx    per pool member: "images" [N, C, H, W] → "purified", dynamic N, H, W
    classifier.onnx          "images" [N, C, H, W] → "probabilities", dynamic N
    [*.int8.onnx, *.plan]    quantized graphs and TensorRT engines, when exported
    [purifiers.fused*.onnx]  every pool member in one graph (``fused`` in the manifest)

Every file is listed with its sha256; :func:`load_bundle` refuses a bundle whose schema version
differs or whose files do not match, naming the file. Imports json, hashlib and the shape
arithmetic only (``docs/bundle-format.md``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from matt.errors import BundleError, MattError
from matt.formats.checksums import sha256_file
from matt.formats.engine_shapes import ShapeRange

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
PURIFIER_INPUT, PURIFIER_OUTPUT = "images", "purified"
CLASSIFIER_INPUT, CLASSIFIER_OUTPUT = "images", "probabilities"

INT8 = "int8"
"""Variant: the Q/DQ INT8 graph ONNX Runtime runs on the CPU (U8S8)."""
INT8_SYMMETRIC = "int8-symmetric"
"""Variant: the symmetric Q/DQ INT8 graph TensorRT builds its INT8 engines from (S8S8)."""
ENGINE_PREFIX = "tensorrt-"
FUSED_INPUT, FUSED_OUTPUT = "images_{index}", "purified_{index}"
"""The fused graph's input and output of pool member ``index`` (the manifest's order)."""

__all__ = [
    "CLASSIFIER_INPUT", "CLASSIFIER_OUTPUT", "ENGINE_PREFIX", "FUSED_INPUT", "FUSED_OUTPUT",
    "INT8", "INT8_SYMMETRIC",
    "MANIFEST", "PURIFIER_INPUT", "PURIFIER_OUTPUT", "SCHEMA_VERSION", "Bundle", "EngineVariant",
    "Manifest", "ModelFile", "Variant", "engine_variant_name", "load_bundle", "parse_manifest",
    "parse_variant", "sha256_file",
]


def engine_variant_name(precision: str) -> str:
    """The manifest's name of a TensorRT engine variant: ``tensorrt-fp16`` and so on."""
    return f"{ENGINE_PREFIX}{precision}"


@dataclass(frozen=True)
class Variant(Mapping[str, Any]):
    """Another file of the same model (an INT8 graph, ...), with its checksum.

    Reads like its JSON entry too (``variant["file"]``, ``variant.get("quality")``), so code
    written against the untyped manifest keeps working.

    Attributes:
        file: relative to the bundle folder.
        sha256: of that file (verified by :func:`load_bundle` when given).
        precision: ``fp32``, ``fp16`` or ``int8``, when the writer recorded it.
        details: the kind's other fields (``quantization``, ``quality``, the GPU, ...).
    """

    file: str
    sha256: str | None = None
    precision: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The manifest's JSON entry."""
        data: dict[str, Any] = {"file": self.file}
        if self.sha256 is not None:
            data["sha256"] = self.sha256
        if self.precision is not None:
            data["precision"] = self.precision
        return data | self._own() | dict(self.details)

    def _own(self) -> dict[str, Any]:
        return {}

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def __eq__(self, other: object) -> bool:
        """Equal to another variant or to its JSON entry, so a dict compares as it used to."""
        if isinstance(other, Variant):
            return type(self) is type(other) and self.to_dict() == other.to_dict()
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable details; a Mapping is not hashable


@dataclass(frozen=True, eq=False)
class EngineVariant(Variant):
    """A serialized TensorRT engine: the ONNX file it was built from and its profile."""

    source: str | None = None
    profile: ShapeRange | None = None

    def _own(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.source is not None:
            data["source"] = self.source
        if self.profile is not None:
            data["profile"] = self.profile.to_dict()
        return data

    def covers_items(self, item_shape: tuple[int, ...]) -> bool:
        """Whether the engine's profile takes items of ``item_shape`` (C, H, W)."""
        return self.profile is not None and self.profile.covers_items(item_shape)


def parse_variant(name: str, entry: Mapping[str, Any], where: str = MANIFEST) -> Variant:
    """A manifest entry → :class:`EngineVariant` for ``tensorrt-*`` kinds, else :class:`Variant`."""
    if isinstance(entry, Variant):
        return entry
    if not isinstance(entry, Mapping) or not isinstance(entry.get("file"), str):
        raise BundleError(f"{where}: variant {name!r} needs a 'file' entry")
    rest = dict(entry)
    file = rest.pop("file")
    sha256 = rest.pop("sha256", None)
    precision = rest.pop("precision", None)
    if not name.startswith(ENGINE_PREFIX):
        return Variant(file, sha256, precision, rest)
    source = rest.pop("source", None)
    profile = rest.pop("profile", None)
    try:
        shapes = None if profile is None else ShapeRange.from_dict(profile, f"{name} profile")
    except MattError as exc:
        raise BundleError(f"{where}: {exc}") from None
    return EngineVariant(file, sha256, precision, rest, source, shapes)


@dataclass(frozen=True)
class ModelFile:
    """One file of the bundle and its checksum; ``variants`` maps a precision or engine kind
    (``int8``, ``tensorrt-fp16``, ...) to another file of the same model. Plain dict entries
    given to it are read into :class:`Variant` / :class:`EngineVariant`."""

    name: str
    file: str
    sha256: str
    spec: dict[str, Any]
    parameters: int
    macs_per_pixel: int
    receptive_radius: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)

    def __post_init__(self) -> None:
        typed = {name: parse_variant(name, entry, self.name)
                 for name, entry in self.variants.items()}
        object.__setattr__(self, "variants", typed)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["variants"] = {name: variant.to_dict() for name, variant in self.variants.items()}
        return data


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
    fused: dict[str, Variant] = field(default_factory=dict)
    """Optional: ``fp32`` / ``int8`` → one graph holding every purifier (input
    ``images_<i>`` and output ``purified_<i>`` per member, empty batches allowed), so a query
    is one runtime call; a bundle without it loads and runs as before."""

    def __post_init__(self) -> None:
        typed = {name: parse_variant(name, entry, "fused") for name, entry in self.fused.items()}
        object.__setattr__(self, "fused", typed)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.fused:
            data["fused"] = {name: variant.to_dict() for name, variant in self.fused.items()}
        else:
            del data["fused"]  # written only when there is one: older readers see the same file
        data["input_shape"] = list(self.input_shape)
        data["class_names"] = list(self.class_names)
        data["purifiers"] = [model.to_dict() for model in self.purifiers]
        data["classifier"] = self.classifier.to_dict()
        data["input"] = {"layout": "NCHW", "dtype": "float32", "range": [0.0, 1.0],
                         "shape": list(self.input_shape)}
        data["normalization"] = "inside the graphs: every model takes images in [0, 1]"
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"


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
        channels, height, width = (int(v) for v in data["input_shape"])
        return Manifest(
            dataset=str(data["dataset"]),
            input_shape=(channels, height, width),
            class_names=tuple(str(v) for v in data["class_names"]),
            patch=int(data["patch"]), halo=int(data["halo"]),
            purifiers=tuple(_model(m) for m in data["purifiers"]),
            classifier=_model(data["classifier"]),
            parity=dict(data.get("parity", {})), export=dict(data.get("export", {})),
            fused=dict(data.get("fused", {})),
        )
    except BundleError as exc:
        raise BundleError(f"{where}: {exc}") from None
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
        return self.path(model.variants[variant].file if variant else model.file)

    def classifier_path(self, variant: str | None = None) -> Path:
        model = self.manifest.classifier
        return self.path(model.variants[variant].file if variant else model.file)

    def fused_path(self, variant: str) -> Path | None:
        """The fused graph of ``variant`` (``fp32``, ``int8``), or ``None`` when not exported."""
        entry = self.manifest.fused.get(variant)
        return None if entry is None else self.path(entry.file)

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
                if variant.sha256 is not None:
                    _check(root, variant.file, variant.sha256)
        for variant in manifest.fused.values():
            _check(root, variant.file, variant.sha256 or "")
    return Bundle(root, manifest)
