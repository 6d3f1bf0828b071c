"""A request that kills Triton 2.51 itself, and matt-serve restarting it.

Triton's HTTP front allocates a JSON input's declared shape (elements × bytes) before checking
it against the model (``ParseJsonTritonIO``); a shape of 2**62 FP32 elements throws
``std::bad_alloc`` and aborts the whole server before any model sees the request. matt-serve
cannot answer for Triton's parser, but it restarts a server that dies.
"""

import http.client
import json
import os
import subprocess
import time

import pytest

from matt.serve.client import MattClient
from tests.serve.conftest import MATT_SERVE, free_ports, real_images, wait_for

KILLER = json.dumps({"inputs": [{"name": "images", "shape": [2**62], "datatype": "FP32",
                                 "data": [0.5]}]}).encode()


@pytest.fixture(scope="module")
def supervised(serve_bundle, tmp_path_factory):
    http_port, grpc_port, metrics_port = free_ports()
    log_path = tmp_path_factory.mktemp("restart") / "matt-serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(MATT_SERVE), str(serve_bundle), "--address", "127.0.0.1", "--threads", "1",
             "--http-port", str(http_port), "--grpc-port", str(grpc_port),
             "--metrics-port", str(metrics_port)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(log_path, "Stop with Ctrl-C", process, 120)
        yield process, log_path, http_port
    finally:
        process.terminate()
        process.wait(60)


def send_killer(http_port: int) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
    try:
        connection.request("POST", "/v2/models/matt/infer", KILLER,
                           {"Content-Type": "application/json"})
        return connection.getresponse().status
    except (http.client.HTTPException, ConnectionError):
        return None
    finally:
        connection.close()


def answers(http_port: int, timeout_s: float) -> bool:
    images, _ = real_images()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        client = MattClient(f"127.0.0.1:{http_port}", timeout_s=5)
        if client.ready():
            return client.predict(images[:2]).shape == (2, 10)
        time.sleep(0.5)
    return False


def test_a_dead_triton_is_restarted(supervised):
    process, log_path, http_port = supervised
    status = send_killer(http_port)
    assert answers(http_port, 90), log_path.read_text()[-3000:]
    assert process.poll() is None
    if status is None:  # Triton died: matt-serve must have said so and restarted it
        wait_for(log_path, "restarted, ready again", process, 5)
        assert "tritonserver died (exit code" in log_path.read_text()


@pytest.mark.xfail(strict=True, reason="Triton 2.51 HTTP front: std::bad_alloc on a huge "
                   "declared JSON shape aborts tritonserver (upstream; see module docstring)")
def test_triton_answers_a_huge_declared_shape_with_a_client_error(supervised):
    _, _, http_port = supervised
    status = send_killer(http_port)
    answers(http_port, 90)  # leave a ready server behind either way
    assert status is not None and 400 <= status < 500
