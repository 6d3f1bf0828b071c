"""The generated Triton model repository: what each config declares, written atomically."""

import re

import pytest

from matt.errors import BundleError, InputError
from matt.serve.options import ServeOptions
from matt.serve.repository import MODEL_FILE, write_model_repository


def configs(repository):
    return {path.parent.name: path.read_text() for path in repository.glob("*/config.pbtxt")}


def test_default_repository(serve_bundle, tmp_path):
    models = write_model_repository(serve_bundle, tmp_path / "repo", ServeOptions())
    found = configs(tmp_path / "repo")
    assert sorted(models) == sorted(found) == ["matt", "matt_purify"]
    for name, text in found.items():
        assert (tmp_path / "repo" / name / "1" / "model.py").read_text() == MODEL_FILE.read_text()
        assert 'backend: "python"' in text
        assert "max_batch_size: 64" in text
        assert "max_queue_delay_microseconds: 2000" in text
        assert "count: 1 kind: KIND_CPU" in text
        assert "response_cache { enable: false }" in text
        assert re.search(r'name: "images" data_type: TYPE_FP32 dims: \[ 3, 32, 32 \] '
                         r"optional: true", text)
        assert 'name: "images_png" data_type: TYPE_STRING dims: [ 1 ] optional: true' in text
        assert f'string_value: "{serve_bundle.resolve()}"' in text
    assert 'name: "probabilities" data_type: TYPE_FP32 dims: [ 10 ]' in found["matt"]
    assert 'name: "purified" data_type: TYPE_FP32 dims: [ 3, 32, 32 ]' in found["matt_purify"]


def test_options_reach_the_configs(serve_bundle, tmp_path):
    options = ServeOptions(max_batch=8, max_queue_delay_us=500, instances=3, output="label",
                           expose_undefended=True, backend="onnxruntime")
    write_model_repository(serve_bundle, tmp_path / "r", options)
    found = configs(tmp_path / "r")
    assert sorted(found) == ["classifier", "matt", "matt_purify"]
    for name in ("matt", "classifier"):
        assert 'name: "label" data_type: TYPE_INT64 dims: [ 1 ]' in found[name]
        assert "probabilities" not in found[name]
    for text in found.values():
        assert "max_batch_size: 8" in text and "count: 3 kind: KIND_CPU" in text
        assert "max_queue_delay_microseconds: 500" in text
        assert 'string_value: "onnxruntime"' in text


def test_existing_folder_is_refused(serve_bundle, tmp_path):
    (tmp_path / "repo").mkdir()
    with pytest.raises(InputError, match="already exists"):
        write_model_repository(serve_bundle, tmp_path / "repo", ServeOptions())


def test_unverified_bundle_leaves_nothing(tmp_path):
    (tmp_path / "bundle").mkdir()
    with pytest.raises(BundleError, match="not a bundle"):
        write_model_repository(tmp_path / "bundle", tmp_path / "out" / "repo", ServeOptions())
    assert not (tmp_path / "out").exists()
