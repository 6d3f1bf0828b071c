"""A real exported bundle and real ``tritonserver`` processes on loopback, for the serve tests.

The bundle is exported from the shipped ``cifar10`` weights when they exist (through the same
cache path ``matt-serve`` uses without BUNDLE), else from random-init stand-in weights.
Servers listen on 127.0.0.1 on free ports and are stopped by their fixture.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from matt.assets import WEIGHTS_DIR
from matt.errors import MattError
from matt.serve.bundles import exported_bundle
from matt.serve.options import ServeOptions
from matt.serve.repository import write_model_repository
from matt.serve.tritonserver import Ports, TritonServer

MATT_SERVE = Path(sys.executable).with_name("matt-serve")


def free_ports(count: int = 3) -> list[int]:
    """Ports free on loopback right now (the OS picks them)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@pytest.fixture(scope="package")
def serve_bundle(tmp_path_factory) -> Path:
    """A verified bundle folder, exported once for all serve tests."""
    cache = tmp_path_factory.mktemp("matt-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MATT_CACHE_DIR", str(cache))
        shipped = WEIGHTS_DIR / "cifar10.pt"
        if shipped.is_file():
            return exported_bundle(shipped)
        from matt.training.weights import save_weights
        from tests.conftest import make_weights

        weights = save_weights(make_weights(), cache / "cifar10-standin.pt")
        return exported_bundle(weights)


@contextlib.contextmanager
def running_server(bundle: Path, folder: Path, options: ServeOptions,
                   drain_timeout_s: int = 30) -> Iterator[TritonServer]:
    """A started, ready server on loopback; stopped (SIGTERM) on exit.

    Free ports can be taken by another process between the pick and the bind: up to three
    tries, each with new ports.
    """
    write_model_repository(bundle, folder / "repository", options)
    for attempt in range(3):
        log_path = folder / f"tritonserver-{attempt}.log"
        with open(log_path, "wb") as log:
            server = TritonServer(folder / "repository", Ports(*free_ports()),
                                  address="127.0.0.1", drain_timeout_s=drain_timeout_s, log=log)
            server.start()
            try:
                server.wait_ready(120)
            except MattError:
                server.stop()
                if "already in use" in log_path.read_text() and attempt < 2:
                    continue
                raise AssertionError(log_path.read_text()[-4000:]) from None
            try:
                yield server
            finally:
                server.stop()
            return


def real_images() -> tuple[np.ndarray, np.ndarray]:
    """The 20 labelled CIFAR-10 test images of the foolbox wheel, float32 NCHW in [0, 1]."""
    from matt.data.foolbox_samples import load_foolbox_samples

    samples = load_foolbox_samples("cifar10")
    return samples.images.astype(np.float32), samples.labels


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG that declares a huge image (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def wait_for(path: Path, needle: str, process: subprocess.Popen, timeout_s: float) -> str:
    """The log at ``path`` once it holds ``needle``; fails if the process ends first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text()
        if needle in text:
            return text
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"no {needle!r} in the log:\n{path.read_text()[-3000:]}")
