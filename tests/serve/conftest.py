"""A real exported bundle and real services (nginx + ``tritonserver``) on loopback.

The bundle is exported from the shipped ``cifar10`` weights when they exist (through the same
cache path ``matt-serve`` uses without BUNDLE), else from random-init stand-in weights.
Services listen on 127.0.0.1 on free ports and are stopped by their fixture. Without nginx and
its Lua module (Debian: nginx-light, libnginx-mod-http-lua; ``make env`` installs them where
apt-get may) the tests that need a running service skip, saying so.
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
from matt.errors import BackendUnavailable, MattError
from matt.serve.bundles import exported_bundle
from matt.serve.options import ServeOptions
from matt.serve.proxy import nginx_binary
from matt.serve.service import Service, running_service
from matt.serve.tritonserver import Ports

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


def need_nginx() -> None:
    """Skip, naming what to install, where nginx with the Lua module is absent."""
    try:
        nginx_binary()
    except BackendUnavailable as exc:
        pytest.skip(f"no proxy to serve through: {exc}")


@contextlib.contextmanager
def running_server(bundle: Path, folder: Path, options: ServeOptions,
                   drain_timeout_s: int = 30, **kwargs: object) -> Iterator[Service]:
    """A started, ready, supervised service on loopback; stopped on exit.

    Free ports can be taken by another process between the pick and the bind: up to three
    tries, each with new ports. The servers' log goes to ``folder/service-<try>.log``.
    """
    need_nginx()
    for attempt in range(3):
        log_path = folder / f"service-{attempt}.log"
        with open(log_path, "wb") as log:
            try:
                context = running_service(bundle, options, Ports(*free_ports()),
                                          address="127.0.0.1", drain_timeout_s=drain_timeout_s,
                                          log=log, say=lambda line: None, **kwargs)
                service = context.__enter__()
            except MattError as exc:
                if "in use" in str(exc) and attempt < 2:
                    continue
                raise AssertionError(f"{exc}\n{log_path.read_text()[-4000:]}") from None
            try:
                yield service
            finally:
                context.__exit__(None, None, None)
            return


def ours_left(service_pids: list[int], shm_prefix: str = "triton_python_backend_shm_region_matt"
              ) -> tuple[list[str], list[str]]:
    """Live processes in the given process groups, and shared-memory segments of ours."""
    from matt.serve.processes import group_members, shm_segments

    processes = [f"{pid}: {Path(f'/proc/{pid}/cmdline').read_bytes()[:80]!r}"
                 for group in service_pids for pid in group_members(group)
                 if Path(f"/proc/{pid}").exists()]
    return processes, [path.name for path in shm_segments(shm_prefix)]


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
