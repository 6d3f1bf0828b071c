"""Fuzz: hundreds of malformed requests over HTTP and gRPC; no 5xx from the model, no crash.

The cases come from a seeded generator (reproducible): random shapes, datatypes, values and
input names in well-formed JSON; binary-tensor requests whose declared sizes lie; pictures that
are random bytes or bit-flipped PNGs; huge headers; truncated bodies; garbage that is not JSON
at all; malformed gRPC messages. Triton 2.51's own HTTP front answers 500 to a body that is not
valid JSON ("failed to parse the request JSON buffer"): that is Triton's parser before any model
is involved, so it is counted apart; every other 5xx fails the test.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import struct
import urllib.request
from collections import Counter

import grpc
import numpy as np
import pytest
import tritonclient.grpc.service_pb2 as pb
import tritonclient.grpc.service_pb2_grpc as pb_grpc
from PIL import Image

from matt.serve.client import MattClient
from matt.serve.options import ServeOptions
from tests.serve.conftest import png_claiming, real_images, running_server

SEED = 20240611
DATATYPES = ["FP32", "FP64", "FP16", "INT8", "INT64", "UINT8", "BOOL", "BYTES", "BF16", "fp32",
             "", "FP3\u00e92", "STRING"]
MODELS = ["matt", "matt_purify", "matt", "classifier", "", "..%2f..", "m" * 300, "matt/1"]
NOT_JSON = "failed to parse the request JSON buffer"
JSON_FIELD = "Unable to parse '"
# Triton 2.51's HTTP front allocates a JSON input's declared shape before checking it against
# the model (``ParseJsonTritonIO``): a huge declared shape aborts the whole server. The proxy's
# guard refuses those (``test_proxy.py``); the fuzz keeps declared sizes under this so that its
# requests reach Triton and the models.
MAX_DECLARED_ELEMENTS = 1 << 22


@pytest.fixture(scope="module")
def server(serve_bundle, tmp_path_factory):
    options = ServeOptions(threads=1, max_batch=8, expose_purify=True)
    with running_server(serve_bundle, tmp_path_factory.mktemp("fuzz"), options) as running:
        yield running


class Tally:
    """What came back, by kind; ``failures`` holds every answer the test refuses."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []

    def http(self, case: str, status: int | None, body: bytes) -> None:
        if status is None:
            self.counts["http: connection closed"] += 1
        elif status < 500:
            self.counts[f"http {status // 100}xx"] += 1
        elif NOT_JSON in body.decode(errors="replace"):
            self.counts["http 500 from Triton's JSON front: not JSON"] += 1
        elif JSON_FIELD in body.decode(errors="replace"):
            self.counts["http 500 from Triton's JSON front: a field it cannot parse"] += 1
        else:
            self.failures.append(f"{case}: HTTP {status} {body[:300]!r}")

    def grpc(self, case: str, code: grpc.StatusCode | None, details: str) -> None:
        if code is None:
            self.counts["grpc OK"] += 1
        elif code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                      grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.RESOURCE_EXHAUSTED):
            self.counts[f"grpc {code.name}"] += 1
        elif code is grpc.StatusCode.INTERNAL and details == "Unable to parse request":
            self.counts["grpc INTERNAL from Triton's gRPC front: not a protobuf message"] += 1
        else:
            self.failures.append(f"{case}: gRPC {code.name} {details[:300]!r}")


def post(server, path: str, body: bytes, headers: dict[str, str] | None = None
         ) -> tuple[int | None, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.ports.http, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    except (http.client.HTTPException, ConnectionError):
        return None, b""
    finally:
        connection.close()


def raw_exchange(server, payload: bytes) -> bytes:
    """Send raw bytes, close our side, read whatever comes back (a truncated request)."""
    with socket.create_connection(("127.0.0.1", server.ports.http), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionError):
            pass
        return b"".join(chunks)


def random_value(rng: np.random.Generator):
    kind = rng.integers(7)
    return [float(rng.normal() * 10.0 ** int(rng.integers(-3, 40))),
            int(rng.integers(-2**62, 2**62)), "x" * int(rng.integers(0, 50)), None, [],
            {"a": 1}, bool(rng.integers(2))][kind]


def random_shape(rng: np.random.Generator) -> list:
    """A shape, kept under MAX_DECLARED_ELEMENTS (see ``test_huge_declared_json_shape``)."""
    rank = int(rng.integers(0, 7))
    pool = [0, 1, 2, 3, 32, 64, 65, -1, -7, 28, 1000, 2**31, 1.5, "3"]
    shape = [pool[int(rng.integers(len(pool)))] for _ in range(rank)]
    while _declared_elements(shape) > MAX_DECLARED_ELEMENTS:
        shape[shape.index(max(d for d in shape if isinstance(d, int)))] = 1
    return shape


def _declared_elements(shape: list) -> int:
    sizes = [d for d in shape if isinstance(d, int)]
    return int(np.prod(sizes, dtype=object)) if sizes and min(sizes) > 0 else 0


def json_case(rng: np.random.Generator) -> tuple[str, bytes]:
    shape = random_shape(rng)
    count = int(rng.integers(0, 40)) if rng.random() < 0.7 else 3072
    data = [random_value(rng) for _ in range(count)] if rng.random() < 0.5 else \
        (rng.random(count) * rng.choice([1.0, 3.0, -1.0])).tolist()
    name = ["images", "images_png", "images", "pixels", "", "images\x00"][int(rng.integers(6))]
    tensor = {"name": name, "shape": shape, "datatype": DATATYPES[int(rng.integers(
        len(DATATYPES)))], "data": data}
    if rng.random() < 0.2:
        tensor["parameters"] = {"binary_data_size": int(rng.integers(-5, 10**9))}
    body = {"inputs": [tensor] * int(rng.integers(0, 3))}
    if rng.random() < 0.2:
        body["outputs"] = [{"name": random_value(rng)}]
    model = MODELS[int(rng.integers(len(MODELS)))]
    return f"/v2/models/{model}/infer", json.dumps(body).encode()


def binary_case(rng: np.random.Generator, pictures: list[bytes]) -> tuple[bytes, dict]:
    """A binary-tensor request whose header, sizes or picture bytes may lie."""
    if rng.random() < 0.5:
        picture = pictures[int(rng.integers(len(pictures)))]
        payload = struct.pack("<I", len(picture)) + picture
        if rng.random() < 0.5:
            payload = struct.pack("<I", int(rng.integers(0, 2**32))) + picture
        name, datatype, shape = "images_png", "BYTES", [1, 1]
    else:
        count = int(rng.choice([1, 3071, 3072, 3073, 6144]))
        payload = rng.random(count).astype(np.float32).tobytes()
        name, datatype, shape = "images", "FP32", [int(rng.choice([1, 2])), 3, 32, 32]
    declared = len(payload) + int(rng.choice([0, 0, -1, 1, -len(payload), 10**6]))
    header = json.dumps({"inputs": [{"name": name, "shape": shape, "datatype": datatype,
                                     "parameters": {"binary_data_size": declared}}]}).encode()
    header_length = len(header) + int(rng.choice([0, 0, 0, -3, 5, 10**7]))
    return header + payload, {"Inference-Header-Content-Length": str(header_length),
                              "Content-Type": "application/octet-stream"}


def well_formed_case(rng: np.random.Generator, pictures: list[bytes]) -> tuple[bytes, dict]:
    """A correctly encoded binary request that reaches the model with hostile contents."""
    if rng.random() < 0.4:
        picture = pictures[int(rng.integers(len(pictures)))]
        header = {"name": "images_png", "shape": [1, 1], "datatype": "BYTES"}
        payload = struct.pack("<I", len(picture)) + picture
    else:
        count = int(rng.integers(1, 9))
        images = rng.random((count, 3, 32, 32), dtype=np.float32)
        nasty = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, -1e-45, 1.0000001, -1e30,
                          3e38], dtype=np.float32)
        flat = images.reshape(-1)
        flat[rng.integers(0, flat.size, int(rng.integers(0, 4)))] = rng.choice(nasty)
        header = {"name": "images", "shape": list(images.shape), "datatype": "FP32"}
        payload = images.tobytes()
    header["parameters"] = {"binary_data_size": len(payload)}
    body = json.dumps({"inputs": [header]}).encode()
    return body + payload, {"Inference-Header-Content-Length": str(len(body)),
                            "Content-Type": "application/octet-stream"}


def mutated_pictures(rng: np.random.Generator) -> list[bytes]:
    images, _ = real_images()
    buffer = io.BytesIO()
    Image.fromarray((images[0].transpose(1, 2, 0) * 255).astype(np.uint8)).save(buffer, "PNG")
    clean = buffer.getvalue()
    found = [clean, clean[:50], png_claiming(60_000, 60_000), png_claiming(32, 32), b"",
             bytes(rng.integers(0, 256, 2000, dtype=np.uint8))]
    for _ in range(20):
        flipped = bytearray(clean)
        for position in rng.integers(0, len(flipped), int(rng.integers(1, 8))):
            flipped[position] ^= 1 << int(rng.integers(8))
        found.append(bytes(flipped))
    return found


def grpc_case(rng: np.random.Generator) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=MODELS[int(rng.integers(len(MODELS)))])
    for _ in range(int(rng.integers(0, 3))):
        tensor = request.inputs.add()
        tensor.name = ["images", "images_png", "other"][int(rng.integers(3))]
        tensor.datatype = DATATYPES[int(rng.integers(len(DATATYPES)))]
        tensor.shape.extend(int(d) for d in rng.choice([0, 1, 3, 32, 65, -1, 2**40],
                                                       int(rng.integers(0, 6))))
        request.raw_input_contents.append(
            bytes(rng.integers(0, 256, int(rng.choice([0, 4, 12288, 12287])), dtype=np.uint8)))
    return request


def reached_models(server) -> Counter[str]:
    """Requests Triton handed to our models (its statistics API; the Python backend counts a
    request answered with an error as a success, so only the total says something)."""
    counts: Counter[str] = Counter()
    for model in ("matt", "matt_purify"):
        address = f"http://127.0.0.1:{server.ports.http}/v2/models/{model}/stats"
        with urllib.request.urlopen(address, timeout=10) as answer:
            stats = json.load(answer)["model_stats"][0]["inference_stats"]
        counts["requests"] += int(stats["success"]["count"]) + int(stats["fail"]["count"])
    return counts


def test_fuzz_never_gets_a_5xx_from_the_model(server):
    rng = np.random.default_rng(SEED)
    before = reached_models(server)
    tally = Tally()
    pictures = mutated_pictures(rng)
    sent = 0

    for index in range(220):
        path, body = json_case(rng)
        status, answer = post(server, path, body, {"Content-Type": "application/json"})
        tally.http(f"json #{index} {body[:200]!r}", status, answer)
        sent += 1
    for index in range(120):
        body, headers = binary_case(rng, pictures)
        model = "matt" if index % 3 else "matt_purify"
        status, answer = post(server, f"/v2/models/{model}/infer", body, headers)
        tally.http(f"binary #{index} {headers}", status, answer)
        sent += 1
    for index in range(100):  # reaches the models: hostile values and pictures
        body, headers = well_formed_case(rng, pictures)
        model = "matt" if index % 2 else "matt_purify"
        status, answer = post(server, f"/v2/models/{model}/infer", body, headers)
        tally.http(f"well-formed #{index} {body[:120]!r}", status, answer)
        sent += 1
    for index in range(40):  # not JSON at all: Triton's parser answers before any model
        body = bytes(rng.integers(0, 256, int(rng.integers(0, 5000)), dtype=np.uint8))
        status, answer = post(server, "/v2/models/matt/infer", body)
        tally.http(f"garbage #{index}", status, answer)
        sent += 1
    for index in range(20):  # huge or many headers
        headers = {"X-Fuzz": "a" * int(rng.choice([1 << 10, 1 << 16, 1 << 20]))} if index % 2 \
            else {f"X-F{i}": "b" * 100 for i in range(int(rng.integers(100, 2000)))}
        status, answer = post(server, "/v2/models/matt/infer", b"{}", headers)
        tally.http(f"headers #{index}", status, answer)
        sent += 1
    for index in range(30):  # truncated bodies: the declared length never arrives
        _, body = json_case(rng)
        request = (f"POST /v2/models/matt/infer HTTP/1.1\r\nHost: x\r\nContent-Length: "
                   f"{len(body) + int(rng.integers(1, 10**6))}\r\n\r\n").encode()
        answer = raw_exchange(server, request + body[: int(rng.integers(0, len(body) + 1))])
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
        tally.http(f"truncated #{index}", status, answer)
        sent += 1

    channel = grpc.insecure_channel(f"127.0.0.1:{server.ports.grpc}")
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    garbage_call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                       request_serializer=None, response_deserializer=None)
    for index in range(100):
        try:
            if index % 4 == 3:
                garbage_call(bytes(rng.integers(0, 256, int(rng.integers(1, 3000)),
                                                dtype=np.uint8)), timeout=30)
            else:
                stub.ModelInfer(grpc_case(rng), timeout=30)
            tally.grpc(f"grpc #{index}", None, "")
        except grpc.RpcError as error:
            tally.grpc(f"grpc #{index}", error.code(), error.details() or "")
        sent += 1
    channel.close()

    reached = reached_models(server) - before
    print(f"\nfuzz: {sent} requests, answers {dict(sorted(tally.counts.items()))}, "
          f"at the models {dict(reached)}")
    assert reached["requests"] >= 100, "too few malformed requests reached the models"
    assert sent >= 500
    assert not tally.failures, "\n".join(tally.failures[:20])
    assert server.triton.process.poll() is None, "tritonserver died"
    assert server.ready()
    images, _ = real_images()
    for port, protocol in ((server.ports.http, "http"), (server.ports.grpc, "grpc")):
        with MattClient(f"127.0.0.1:{port}", protocol) as client:
            assert client.predict(images[:4]).shape == (4, 10)
