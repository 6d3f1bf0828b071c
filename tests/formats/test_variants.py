"""Manifest variants are typed: an engine variant carries its profile as a ShapeRange."""

from __future__ import annotations

import json

import pytest

from matt.errors import BundleError, SpecError
from matt.formats import (
    EngineVariant,
    Manifest,
    ModelFile,
    ShapeRange,
    Variant,
    engine_variant_name,
    parse_manifest,
)

PROFILE = ShapeRange("images", (1, 3, 1, 1), (8, 3, 16, 16), (64, 3, 40, 40))


def _model(variants: dict) -> ModelFile:
    return ModelFile(name="p0", file="purifiers/p0.onnx", sha256="0" * 64, spec={"encoder": "edsr"},
                     parameters=10, macs_per_pixel=5, receptive_radius=3, variants=variants)


def _manifest(variants: dict) -> Manifest:
    return Manifest(dataset="cifar10", input_shape=(3, 32, 32), class_names=("a", "b"), patch=8,
                    halo=4, purifiers=(_model(variants),), classifier=_model({}))


ENTRIES = {
    "int8": {"file": "purifiers/p0.int8.onnx", "sha256": "1" * 64, "precision": "int8",
             "quantization": {"format": "QDQ"}, "quality": {"agreement": 1.0}},
    engine_variant_name("fp16"): {"file": "purifiers/p0.fp16.plan", "sha256": "2" * 64,
                                  "precision": "fp16", "source": "purifiers/p0.onnx",
                                  "profile": PROFILE.to_dict(), "gpu_name": "H200"},
}


def test_dict_entries_become_typed_variants():
    model = _model(ENTRIES)
    int8, engine = model.variants["int8"], model.variants["tensorrt-fp16"]
    assert type(int8) is Variant and int8.precision == "int8"
    assert int8.details == {"quantization": {"format": "QDQ"}, "quality": {"agreement": 1.0}}
    assert isinstance(engine, EngineVariant) and engine.profile == PROFILE
    assert engine.source == "purifiers/p0.onnx" and engine.details == {"gpu_name": "H200"}


def test_variants_still_read_like_their_json_entries():
    """Code written against the untyped manifest (``entry["file"]``, ``.get``) keeps working."""
    model = _model(ENTRIES)
    for name, entry in ENTRIES.items():
        assert dict(model.variants[name]) == entry
        assert model.variants[name]["file"] == entry["file"]
    assert model.variants["int8"].get("quality", {}).get("agreement") == 1.0
    assert model.variants["int8"].get("profile") is None
    assert model.variants["int8"] == ENTRIES["int8"] and ENTRIES["int8"] == model.variants["int8"]
    assert model.variants["int8"] != model.variants["tensorrt-fp16"]
    assert model.variants["tensorrt-fp16"] == _model(ENTRIES).variants["tensorrt-fp16"]


def test_the_manifest_round_trips_through_json():
    manifest = _manifest(ENTRIES)
    text = manifest.to_json()
    assert parse_manifest(text) == manifest
    written = json.loads(text)["purifiers"][0]["variants"]
    assert written == ENTRIES


@pytest.mark.parametrize(("items", "covered"), [((3, 16, 16), True), ((3, 40, 40), True),
                                                ((3, 41, 16), False), ((1, 16, 16), False),
                                                ((3, 16), False)])
def test_an_engine_variant_covers_the_items_of_its_profile(items, covered):
    engine = _model(ENTRIES).variants["tensorrt-fp16"]
    assert isinstance(engine, EngineVariant)
    assert engine.covers_items(items) is covered
    assert PROFILE.covers_items(items) is covered


@pytest.mark.parametrize("profile", [{"input": "images", "min": [1, 3]}, "not a mapping",
                                     {"input": "images", "min": [2], "opt": [1], "max": [3]}])
def test_a_malformed_profile_is_a_bundle_error_naming_the_variant(profile):
    data = json.loads(_manifest({}).to_json())
    data["purifiers"][0]["variants"] = {"tensorrt-fp32": {"file": "p.plan", "profile": profile}}
    text = json.dumps(data)
    with pytest.raises(BundleError, match="tensorrt-fp32 profile"):
        parse_manifest(text, "bundle/manifest.json")


def test_a_variant_without_a_file_is_refused():
    data = json.loads(_manifest({}).to_json())
    data["purifiers"][0]["variants"] = {"int8": {"sha256": "0"}}
    with pytest.raises(BundleError, match="variant 'int8' needs a 'file'"):
        parse_manifest(json.dumps(data), "manifest.json")


def test_shape_range_from_dict_is_the_inverse_of_to_dict():
    assert ShapeRange.from_dict(PROFILE.to_dict()) == PROFILE
    with pytest.raises(SpecError, match="min <= opt <= max"):
        ShapeRange.from_dict({"input": "x", "min": [2], "opt": [1], "max": [3]})
