"""The model repository: Triton's own config protobuf, the bundle inside the version folder,
labels for the classification extension, versions, and a stock ``tritonserver`` serving it
after it was moved."""

import shutil

import numpy as np
import pytest
import tritonclient.grpc.model_config_pb2 as mc
import tritonclient.http as httpclient

from matt.errors import BundleError, InputError
from matt.formats.bundle import load_bundle
from matt.serve.options import ServeOptions
from matt.serve.repository import CONFIG, LABELS, MODEL_FILE, read_config, write_model_repository
from matt.serve.tritonserver import Ports, TritonServer
from tests.serve.conftest import free_ports, real_images


def test_default_repository(serve_bundle, tmp_path):
    models = write_model_repository(serve_bundle, tmp_path / "repo", ServeOptions())
    assert models == ["matt"] and sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["matt"]
    model = tmp_path / "repo" / "matt"
    config = read_config(model / CONFIG)
    assert config.name == "matt" and config.backend == "python"
    assert config.max_batch_size == 64
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000
    assert [(g.count, g.kind) for g in config.instance_group] == [
        (1, mc.ModelInstanceGroup.KIND_CPU)]
    assert not config.response_cache.enable and config.version_policy.latest.num_versions == 1
    images, pictures = config.input
    assert (images.name, images.data_type, list(images.dims), images.optional) == (
        "images", mc.TYPE_FP32, [3, 32, 32], True)
    assert (pictures.name, pictures.data_type, list(pictures.dims)) == (
        "images_png", mc.TYPE_STRING, [1])
    (output,) = config.output
    assert (output.name, list(output.dims), output.label_filename) == (
        "probabilities", [10], LABELS)
    manifest = load_bundle(serve_bundle).manifest
    assert (model / LABELS).read_text().splitlines() == list(manifest.class_names)
    assert (model / "1" / "model.py").read_text() == MODEL_FILE.read_text()
    assert load_bundle(model / "1" / "bundle").manifest == manifest
    text = (model / CONFIG).read_text()
    assert str(serve_bundle) not in text and str(tmp_path) not in text  # nothing absolute


def test_options_reach_the_configs(serve_bundle, tmp_path):
    options = ServeOptions(max_batch=8, max_queue_delay_us=500, instances=3, output="label",
                           expose_undefended=True, expose_purify=True, backend="onnxruntime")
    write_model_repository(serve_bundle, tmp_path / "r", options)
    configs = {p.parent.name: read_config(p) for p in (tmp_path / "r").glob(f"*/{CONFIG}")}
    assert sorted(configs) == ["classifier", "matt", "matt_purify"]
    for name in ("matt", "classifier"):
        (output,) = configs[name].output
        assert (output.name, output.data_type, list(output.dims)) == ("label", mc.TYPE_INT64, [1])
    assert configs["matt_purify"].output[0].name == "purified"
    for config in configs.values():
        assert config.max_batch_size == 8 and config.instance_group[0].count == 3
        assert config.parameters["backend"].string_value == "onnxruntime"


def test_tensorrt_instances_go_on_the_gpu_with_warmup(serve_bundle, tmp_path):
    write_model_repository(serve_bundle, tmp_path / "r", ServeOptions(backend="tensorrt"))
    config = read_config(tmp_path / "r" / "matt" / CONFIG)
    assert config.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    (warmup,) = config.model_warmup
    assert list(warmup.inputs["images"].dims) == [3, 32, 32] and warmup.inputs["images"].zero_data


def test_writing_again_adds_a_version(serve_bundle, tmp_path):
    write_model_repository(serve_bundle, tmp_path / "repo", ServeOptions())
    write_model_repository(serve_bundle, tmp_path / "repo", ServeOptions(max_batch=16))
    model = tmp_path / "repo" / "matt"
    assert sorted(p.name for p in model.iterdir() if p.is_dir()) == ["1", "2"]
    assert read_config(model / CONFIG).max_batch_size == 16
    load_bundle(model / "2" / "bundle")


def test_a_folder_that_is_not_such_a_repository_is_refused(serve_bundle, tmp_path):
    (tmp_path / "repo").mkdir()
    with pytest.raises(InputError, match="no model 'matt'"):
        write_model_repository(serve_bundle, tmp_path / "repo", ServeOptions())


def test_unverified_bundle_leaves_nothing(tmp_path):
    (tmp_path / "bundle").mkdir()
    with pytest.raises(BundleError, match="not a bundle"):
        write_model_repository(tmp_path / "bundle", tmp_path / "out" / "repo", ServeOptions())
    assert not (tmp_path / "out").exists()


def test_a_stock_tritonserver_serves_the_moved_repository(serve_bundle, tmp_path):
    """``tritonserver --model-repository R`` (TCP, no matt-serve, no proxy) after R moved."""
    write_model_repository(serve_bundle, tmp_path / "written", ServeOptions(threads=1))
    moved = shutil.move(tmp_path / "written", tmp_path / "elsewhere" / "repository")
    with open(tmp_path / "triton.log", "wb") as log, TritonServer(
            moved, Ports(*free_ports()), address="127.0.0.1", log=log) as server:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{server.ports.http}")
        try:
            assert client.get_model_config("matt")["name"] == "matt"
            images, _ = real_images()
            tensor = httpclient.InferInput("images", [2, 3, 32, 32], "FP32")
            tensor.set_data_from_numpy(images[:2])
            answer = client.infer("matt", [tensor]).as_numpy("probabilities")
        finally:
            client.close()
    assert answer.shape == (2, 10) and np.allclose(answer.sum(1), 1, atol=1e-4)
