"""A real service on loopback (nginx in front of Triton): unmodified tritonclient (HTTP, gRPC)
against the Pipeline.

One service for the module, serving ``matt_purify`` and the undefended ``classifier`` too (for
exact parity).
"""

import io
import json
import re
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from PIL import Image
from tritonclient.utils import InferenceServerException

from matt.errors import InputError
from matt.runtime import Pipeline
from matt.serve.client import MattClient
from matt.serve.options import ServeOptions
from tests.serve.conftest import png_claiming, real_images, running_server

PROTOCOLS = ("http", "grpc")


@pytest.fixture(scope="module")
def server(serve_bundle, tmp_path_factory):
    options = ServeOptions(expose_undefended=True, expose_purify=True, max_queue_delay_us=50_000,
                           threads=1)
    with running_server(serve_bundle, tmp_path_factory.mktemp("server"), options) as running:
        yield running


@pytest.fixture(scope="module")
def pipeline(serve_bundle):
    with Pipeline.load(serve_bundle, backend="onnxruntime") as loaded:
        yield loaded


def url(server, protocol):
    port = server.ports.http if protocol == "http" else server.ports.grpc
    return f"127.0.0.1:{port}"


def raw_client(server, protocol):
    module = httpclient if protocol == "http" else grpcclient
    return module, module.InferenceServerClient(url(server, protocol))


def infer(server, protocol, model, tensors, output):
    """One request with unmodified tritonclient; ``tensors``: (name, array, datatype)."""
    module, client = raw_client(server, protocol)
    inputs = []
    for name, array, datatype in tensors:
        tensor = module.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    try:
        result = client.infer(model, inputs, outputs=[module.InferRequestedOutput(output)])
        return result.as_numpy(output)
    finally:
        client.close()


def png(image_chw: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    pixels = np.round(image_chw.transpose(1, 2, 0) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_undefended_classifier_matches_the_pipeline_exactly(server, pipeline, protocol):
    images, _ = real_images()
    served = infer(server, protocol, "classifier", [("images", images, "FP32")],
                   "probabilities")
    np.testing.assert_allclose(served, pipeline.classify_undefended(images), atol=1e-5)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_purified_labels_agree_with_the_pipeline(server, pipeline, protocol):
    """Statistically: the served defense agrees with the local one as often as the local one
    agrees with itself, and is as accurate on the real images."""
    images, truth = real_images()
    repeats = 4
    local = np.stack([pipeline.predict(images).argmax(1) for _ in range(repeats)])
    with MattClient(url(server, protocol), protocol) as client:
        served = np.stack([client.labels(images) for _ in range(repeats)])
    local_vs_local = (local[:-1] == local[1:]).mean()
    served_vs_local = (served == local).mean()
    assert served_vs_local >= local_vs_local - 0.1, (served_vs_local, local_vs_local)
    assert (served == truth).mean() >= (local == truth).mean() - 0.1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pictures_give_what_the_pixels_give(server, protocol):
    images, _ = real_images()
    pictures = np.array([[png(image)] for image in images[:6]], dtype=np.object_)
    from_pictures = infer(server, protocol, "classifier", [("images_png", pictures, "BYTES")],
                          "probabilities")
    from_pixels = infer(server, protocol, "classifier", [("images", images[:6], "FP32")],
                        "probabilities")
    np.testing.assert_allclose(from_pictures, from_pixels, atol=1e-5)


def test_fresh_randomness_per_image_and_request(server):
    images, _ = real_images()
    copies = np.repeat(images[:1], 6, axis=0)
    with MattClient(url(server, "http"), "http") as client:
        first, second = client.purify(copies), client.purify(copies)
    both = np.concatenate([first, second])
    assert len({image.tobytes() for image in both}) == len(both)


def model_stats(server, model):
    address = f"http://127.0.0.1:{server.ports.http}/v2/models/{model}/stats"
    with urllib.request.urlopen(address, timeout=10) as answer:
        stats = json.load(answer)["model_stats"][0]
    return stats["inference_count"], stats["execution_count"]


def test_concurrent_requests_are_batched_and_still_drawn_apart(server):
    images, _ = real_images()
    requests = 8
    results: list[np.ndarray] = [None] * requests
    together = threading.Barrier(requests + 1)

    def one(index):
        # An HTTP client belongs to the thread that made it (gevent).
        with MattClient(url(server, "http"), "http") as client:
            client.output_of("matt_purify")  # metadata first: only the inferences overlap
            together.wait(30)
            results[index] = client.purify(images[:1])

    inferences_before, executions_before = model_stats(server, "matt_purify")
    threads = [threading.Thread(target=one, args=(i,)) for i in range(requests)]
    for thread in threads:
        thread.start()
    together.wait(30)
    for thread in threads:
        thread.join(60)
    inferences, executions = model_stats(server, "matt_purify")
    assert inferences - inferences_before == requests
    assert executions - executions_before < requests, "no request was dynamically batched"
    assert len({result.tobytes() for result in results}) == requests


def test_metrics_are_exported(server):
    address = f"http://127.0.0.1:{server.ports.metrics}/metrics"
    with urllib.request.urlopen(address, timeout=10) as answer:
        text = answer.read().decode()
    assert 'nv_inference_request_success{model="matt"' in text


def test_defense_metrics_are_exported(server, pipeline):
    images, _ = real_images()
    with MattClient(url(server, "http"), "http") as client:
        client.labels(images[:3])
        with pytest.raises(InputError):
            client.labels(images[:1] * 3 - 1)
    address = f"http://127.0.0.1:{server.ports.metrics}/metrics"
    with urllib.request.urlopen(address, timeout=10) as answer:
        text = answer.read().decode()
    assert re.search(r'matt_refusals_total\{model="matt",reason="range"\} [1-9]', text), text
    purified = re.search(r'matt_images_purified_total\{model="matt"\} (\d+)', text)
    assert purified and int(purified.group(1)) >= 3
    draws = [int(v) for v in re.findall(r'matt_purifier_draws_total\{[^}]*model="matt"\} (\d+)',
                                         text)]
    assert len(draws) == pipeline.pool_size and sum(draws) > 0, draws
    assert 'matt_batch_size_bucket{model="matt",le="4"}' in text


@pytest.mark.parametrize("path", ["/v2/systemsharedmemory/status", "/v2/cudasharedmemory/status",
                                  "/v2/repository/index", "/v2/trace/setting", "/v2/logging"])
def test_admin_apis_are_closed(server, path):
    address = f"http://127.0.0.1:{server.ports.http}{path}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(address, data=b"{}"), timeout=10)
    assert refused.value.code == 403


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_model_config_is_readable_and_loading_is_locked(server, protocol):
    _, client = raw_client(server, protocol)
    try:
        if protocol == "http":
            config = client.get_model_config("matt")
            outputs, name = config["output"], config["name"]
            label_file = outputs[0]["label_filename"]
        else:
            config = client.get_model_config("matt").config
            outputs, name = config.output, config.name
            label_file = outputs[0].label_filename
        assert name == "matt" and label_file == "labels.txt"
        assert client.get_model_metadata("matt") is not None
        with pytest.raises(InferenceServerException):
            client.load_model("matt")
        with pytest.raises(InferenceServerException):
            client.unload_model("matt")
        assert server.ready()
    finally:
        client.close()


def test_classification_extension_names_the_classes(server):
    images, _ = real_images()
    module, client = raw_client(server, "http")
    try:
        tensor = module.InferInput("images", [1, 3, 32, 32], "FP32")
        tensor.set_data_from_numpy(images[:1])
        wanted = module.InferRequestedOutput("probabilities", class_count=2)
        top = client.infer("matt", [tensor], outputs=[wanted]).as_numpy("probabilities")
    finally:
        client.close()
    score, index, label = top[0, 0].decode().split(":")
    assert label in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                     "ship", "truck") and 0.0 <= float(score) <= 1.0 and 0 <= int(index) < 10


def _bad_cases():
    images, _ = real_images()
    one = images[:1]
    bomb = png_claiming(100_000, 100_000)
    big = io.BytesIO()
    Image.new("RGB", (64, 64)).save(big, "PNG")
    return [
        ("shape", [("images", images[:1, :1], "FP32")], "shape"),
        ("size", [("images", np.zeros((1, 3, 28, 28), np.float32), "FP32")], "shape"),
        ("dtype", [("images", one.astype(np.float64), "FP64")], "data-type"),
        ("int", [("images", (one * 255).astype(np.int32), "INT32")], "data-type"),
        ("batch", [("images", np.zeros((65, 3, 32, 32), np.float32), "FP32")], "batch"),
        ("range", [("images", one * 3 - 1, "FP32")], "[0, 1]"),
        ("nan", [("images", np.full_like(one, np.nan), "FP32")], "NaN or inf"),
        ("inf", [("images", np.full_like(one, np.inf), "FP32")], "NaN or inf"),
        ("garbage", [("images_png", np.array([[b"GIF89a..."]], dtype=np.object_), "BYTES")],
         "not a PNG or JPEG"),
        ("bomb", [("images_png", np.array([[bomb]], dtype=np.object_), "BYTES")],
         "decompression-bomb"),
        ("picture-size", [("images_png", np.array([[big.getvalue()]], dtype=np.object_),
                           "BYTES")], "resize"),
        ("both", [("images", one, "FP32"),
                  ("images_png", np.array([[png(one[0])]], dtype=np.object_), "BYTES")],
         "exactly one input"),
        ("unknown-input", [("pixels", one, "FP32")], "pixels"),
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("tensors", "needle"),
                         [pytest.param(t, n, id=case) for case, t, n in _bad_cases()])
def test_bad_input_is_a_client_error_naming_the_problem(server, protocol, tensors, needle):
    with pytest.raises(InferenceServerException) as refused:
        infer(server, protocol, "matt", tensors, "probabilities")
    status = str(refused.value.status())
    if protocol == "http":
        assert status == "400", (status, refused.value.message())
    else:
        assert status == "StatusCode.INVALID_ARGUMENT", (status, refused.value.message())
    assert needle in refused.value.message()
    assert "Traceback" not in refused.value.message()
    assert server.ready()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unknown_and_undefended_models(server, protocol):
    images, _ = real_images()
    with pytest.raises(InferenceServerException) as refused:
        infer(server, protocol, "resnet", [("images", images[:1], "FP32")], "probabilities")
    assert str(refused.value.status()) in ("400", "404", "StatusCode.NOT_FOUND",
                                           "StatusCode.INVALID_ARGUMENT")
    assert "unknown model" in refused.value.message()
    assert server.ready()
