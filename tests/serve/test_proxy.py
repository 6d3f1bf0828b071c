"""What nginx in front of Triton bounds and refuses: the crash request, huge, slow, chunked and
compressed bodies; and that valid requests, JSON ones included, still pass.

Triton 2.51's HTTP front allocates a JSON input's declared shape before checking it against the
model (``ParseJsonTritonIO``): a shape of 2**62 FP32 elements throws ``std::bad_alloc`` and
aborts the whole server. Here it never reaches Triton.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time

import pytest

from matt.serve.client import MattClient
from matt.serve.options import ServeOptions
from matt.serve.processes import group_members
from tests.serve.conftest import real_images, running_server

KILLER = json.dumps({"inputs": [{"name": "images", "shape": [2**62], "datatype": "FP32",
                                 "data": [0.5]}]}).encode()
BODY_TIMEOUT_S = 5
MAX_BODY = 4 << 20


@pytest.fixture(scope="module")
def service(serve_bundle, tmp_path_factory):
    options = ServeOptions(threads=1, body_timeout_s=BODY_TIMEOUT_S, max_body_bytes=MAX_BODY)
    with running_server(serve_bundle, tmp_path_factory.mktemp("proxy"), options) as running:
        yield running


def post(service, body: bytes, headers: dict[str, str] | None = None,
         path: str = "/v2/models/matt/infer") -> tuple[int | None, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", service.ports.http, timeout=30)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json",
                                                **(headers or {})})
        answer = connection.getresponse()
        return answer.status, answer.read()
    except (http.client.HTTPException, ConnectionError):
        return None, b""
    finally:
        connection.close()


def answers(service) -> bool:
    images, _ = real_images()
    for protocol, port in (("http", service.ports.http), ("grpc", service.ports.grpc)):
        with MattClient(f"127.0.0.1:{port}", protocol, timeout_s=30) as client:
            if client.predict(images[:2]).shape != (2, 10):
                return False
    return True


def test_the_crash_request_fifty_times_in_a_minute(service):
    triton = service.triton.process.pid
    began = time.monotonic()
    statuses = [post(service, KILLER) for _ in range(50)]
    assert time.monotonic() - began < 60
    assert all(status == 400 for status, _ in statuses), statuses[:3]
    assert b"more elements than a body" in statuses[0][1]
    assert answers(service)
    assert service.triton.process.pid == triton and service.triton.process.poll() is None
    assert service.restarts == 0


@pytest.mark.parametrize("header", [
    {"inputs": [{"name": "images", "shape": [1_000_000_000], "datatype": "FP32", "data": [0.5]}]},
    {"inputs": [{"name": "images", "shape": [1, 3, 32, 32 * 2**40], "datatype": "FP32",
                 "data": [0.5]}]},
    {"inputs": [{"name": "images", "shape": [2**62], "datatype": "FP32",
                 "parameters": {"binary_data_size": 4}}]},
])
def test_absurd_declared_shapes_are_refused(service, header):
    body = json.dumps(header).encode()
    status, text = post(service, body + b"\0" * 4,
                        {"Inference-Header-Content-Length": str(len(body))})
    assert status == 400, text
    assert answers(service)


@pytest.mark.parametrize("raw", [
    # duplicate keys: Triton's parser takes the first one, most others the last
    b'{"inputs":[{"name":"images","shape":[4611686018427387904],"shape":[1,3,32,32],'
    b'"datatype":"FP32","data":[0.5]}]}',
    # an escaped key name
    b'{"inputs":[{"name":"images","sh\\u0061pe":[4611686018427387904],"datatype":"FP32",'
    b'"data":[0.5]}]}',
    # a float written with an exponent
    b'{"inputs":[{"name":"images","shape":[4.6e18],"datatype":"FP32","data":[0.5]}]}',
])
def test_shapes_cannot_hide_from_the_guard(service, raw):
    status, _ = post(service, raw)
    assert status == 400
    assert service.triton.process.poll() is None


@pytest.mark.parametrize("raw", [
    b"[" * 1_000_000,
    b'{"a":' * 200_000 + b"1" + b"}" * 200_000,
    b'{"inputs":[' + b"[" * 500_000 + b"]" * 500_000 + b"]}",
], ids=["arrays", "objects", "inside-inputs"])
def test_deep_nesting_is_refused(service, raw):
    """Triton's JSON parser recurses per level: a million '[' overflow its stack (SIGSEGV)."""
    status, text = post(service, raw)
    assert status == 400 and b"nests deeper than" in text, text
    assert service.triton.process.poll() is None and service.restarts == 0


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested-nchw"])
def test_a_plain_json_request_still_passes(service, nested):
    images, _ = real_images()
    data = images[:1].tolist() if nested else images[0].ravel().tolist()
    body = json.dumps({"inputs": [{"name": "images", "shape": [1, 3, 32, 32],
                                   "datatype": "FP32", "data": data}]})
    status, text = post(service, body.encode())
    assert status == 200, text
    assert len(json.loads(text)["outputs"][0]["data"]) == 10


@pytest.mark.parametrize(("headers", "status"), [
    ({"Content-Encoding": "gzip"}, 415),
    ({"Transfer-Encoding": "chunked"}, 411),
])
def test_compressed_and_chunked_bodies_are_refused(service, headers, status):
    connection = socket.create_connection(("127.0.0.1", service.ports.http), timeout=10)
    try:
        lines = [b"POST /v2/models/matt/infer HTTP/1.1", b"Host: x"]
        lines += [f"{k}: {v}".encode() for k, v in headers.items()]
        if "Transfer-Encoding" not in headers:
            lines.append(b"Content-Length: 4")
        connection.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + (
            b"4\r\n{}{}\r\n0\r\n\r\n" if "Transfer-Encoding" in headers else b"{}{}"))
        assert connection.recv(200).split(b" ")[1] == str(status).encode()
    finally:
        connection.close()


def service_rss_kb(service) -> int:
    pids = [*group_members(service.triton.process.pid),
            *group_members(service.proxy.process.pid)]
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as status:
            total += sum(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return total


def test_a_1_gib_body_is_refused_at_bounded_memory(service):
    before = service_rss_kb(service)
    connection = socket.create_connection(("127.0.0.1", service.ports.http), timeout=10)
    chunk, sent = b"\0" * (1 << 20), 0
    try:
        connection.sendall(b"POST /v2/models/matt/infer HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 1073741824\r\n\r\n" + chunk)
        answer = connection.recv(200)  # refused on the Content-Length, before the body
        with contextlib.suppress(OSError):
            while sent < 1 << 30:  # nginx discards the rest for lingering_time (5 s) at most
                connection.sendall(chunk)
                sent += len(chunk)
    finally:
        connection.close()
    grown_mb = (service_rss_kb(service) - before) / 1024
    assert b" 413 " in answer, answer
    assert grown_mb <= 64, grown_mb
    assert answers(service)


def test_a_body_at_one_byte_per_second_is_cut(service):
    connection = socket.create_connection(("127.0.0.1", service.ports.http), timeout=10)
    connection.settimeout(1)
    began = time.monotonic()
    cut = None
    try:
        connection.sendall(b"POST /v2/models/matt/infer HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 1000\r\n\r\n")
        while time.monotonic() - began < 30:
            try:
                connection.sendall(b" ")
                if connection.recv(500) == b"":
                    cut = time.monotonic() - began
                    break
            except TimeoutError:
                continue
            except OSError:
                cut = time.monotonic() - began
                break
    finally:
        connection.close()
    assert cut is not None, "the slow body was held for 30 s"
    assert cut <= BODY_TIMEOUT_S + 3
    assert answers(service)


def p50_ms(service, requests: int = 12) -> float:
    images, _ = real_images()
    times = []
    with MattClient(f"127.0.0.1:{service.ports.http}", timeout_s=30) as client:
        client.labels(images[:1])
        for _ in range(requests):
            began = time.perf_counter()
            client.labels(images[:1])
            times.append(time.perf_counter() - began)
    return sorted(times)[len(times) // 2] * 1000


def test_slow_bodies_do_not_slow_other_clients(service):
    baseline = p50_ms(service)
    slow = []
    try:
        for _ in range(16):
            connection = socket.create_connection(("127.0.0.1", service.ports.http), timeout=10)
            connection.sendall(b"POST /v2/models/matt/infer HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 100000\r\n\r\n{")
            slow.append(connection)
        during = p50_ms(service)
    finally:
        for connection in slow:
            connection.close()
    assert during <= 2 * baseline + 30, (baseline, during)
