"""Running the ``tritonserver`` binary that the ``nvidia-pytriton`` wheel carries.

The wheel's ``pytriton/tritonserver/`` tree is copied once into the cache with the Python
backend stub of this interpreter's version placed in ``backends/python/``; the server runs with
the wheel's ``nvidia_pytriton.libs`` on ``LD_LIBRARY_PATH`` and this interpreter's ``bin/``
first on ``PATH``, so the stub's embedded Python finds the same packages (``matt``, ONNX Runtime).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from matt.errors import BackendUnavailable, MattError
from matt.serve.cache import cache_root

# APIs no client of the models needs; a random header key that is never printed closes them.
RESTRICTED_APIS = ("shared-memory", "model-repository", "model-config", "trace", "logging")
ADMIN_HEADER = "matt-admin-key"


def _wheel_dirs() -> tuple[Path, Path]:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable("nvidia-pytriton is not installed; pip install 'matt[serve]'")
    package = Path(next(iter(spec.submodule_search_locations)))
    tree, libs = package / "tritonserver", package.parent / "nvidia_pytriton.libs"
    if not (tree / "bin" / "tritonserver").is_file() or not libs.is_dir():
        raise BackendUnavailable(f"{tree}: the nvidia-pytriton wheel carries no tritonserver "
                                 "binary here; reinstall nvidia-pytriton for linux x86_64")
    return tree, libs


def prepared_tree() -> Path:
    """The cached server tree with this Python's backend stub, prepared on first use."""
    tree, _ = _wheel_dirs()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = tree / "python_backend_stubs" / python / "triton_python_backend_stub"
    if not stub.is_file():
        raise BackendUnavailable(f"nvidia-pytriton has no Python backend stub for Python "
                                 f"{python}; run matt-serve from a Python it ships one for")
    version = importlib.metadata.version("nvidia-pytriton")
    target = cache_root() / "tritonserver" / f"pytriton-{version}-py{python}"
    if (target / "backends" / "python" / stub.name).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        shutil.copytree(tree, staging / "tree", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(stub, staging / "tree" / "backends" / "python" / stub.name)
        if target.exists():
            shutil.rmtree(target)
        (staging / "tree").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@dataclass(frozen=True)
class Ports:
    """The three listening ports; Triton needs distinct, free ones."""

    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002

    def __post_init__(self) -> None:
        ports = (self.http, self.grpc, self.metrics)
        if any(not 1 <= port <= 65535 for port in ports) or len(set(ports)) != 3:
            raise MattError(f"ports must be three distinct numbers in 1..65535, got {ports}")


def _find_prctl() -> object | None:
    try:
        return ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _find_prctl()  # looked up here: the child after fork only calls it


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, so no server outlives matt-serve."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # type: ignore[operator]  # 1 = PR_SET_PDEATHSIG


class TritonServer:
    """One ``tritonserver`` process serving a model repository.

    Args:
        repository: the model repository folder.
        ports: HTTP, gRPC and metrics ports.
        address: the interface all three listen on (``0.0.0.0``: every interface).
        drain_timeout_s: on SIGTERM, how long in-flight requests may take to finish.
        log: where the server's log goes (default: this process's stdout and stderr).
    """

    def __init__(self, repository: str | Path, ports: Ports = Ports(), *,
                 address: str = "0.0.0.0", drain_timeout_s: int = 30,
                 log: IO[bytes] | IO[str] | None = None) -> None:
        self.repository = Path(repository)
        self.ports = ports
        self.address = address
        self.drain_timeout_s = drain_timeout_s
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def local_address(self) -> str:
        """Where a client on this machine reaches the server."""
        return "127.0.0.1" if self.address in ("0.0.0.0", "") else self.address

    def command(self, tree: Path) -> list[str]:
        admin = f"{','.join(RESTRICTED_APIS)}:{ADMIN_HEADER}={secrets.token_hex(16)}"
        return [
            str(tree / "bin" / "tritonserver"),
            f"--model-repository={self.repository}",
            f"--backend-directory={tree / 'backends'}",
            f"--http-address={self.address}", f"--http-port={self.ports.http}",
            f"--grpc-address={self.address}", f"--grpc-port={self.ports.grpc}",
            f"--metrics-address={self.address}", f"--metrics-port={self.ports.metrics}",
            "--allow-gpu-metrics=false",
            "--disable-auto-complete-config",
            f"--exit-timeout-secs={self.drain_timeout_s}",
            f"--http-restricted-api={admin}",
            f"--grpc-restricted-protocol={admin}",
            "--log-verbose=0",
        ]

    def environment(self) -> dict[str, str]:
        _, libs = _wheel_dirs()
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (str(libs), env.get("LD_LIBRARY_PATH", "")) if p)
        env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
        return env

    def start(self) -> None:
        """Start the server process (returns at once; see :meth:`wait_ready`).

        A server whose process has exited may be started again (a restart after a crash).
        """
        if self.process is not None and self.process.poll() is None:
            raise MattError("this server is running already")
        tree = prepared_tree()
        self.process = subprocess.Popen(
            self.command(tree), env=self.environment(), stdout=self.log,
            stderr=subprocess.STDOUT if self.log is not None else None,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)

    def is_ready(self) -> bool:
        url = f"http://{self.local_address}:{self.ports.http}/v2/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Block until every model is loaded and the server answers ready.

        Raises:
            MattError: the server exited (a port in use, a model that fails to load) or did
                not become ready in time.
        """
        process = self._running()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise MattError(f"tritonserver exited with code {process.returncode} while "
                                "starting; its log above says why (a port in use? a model "
                                "that failed to load?)")
            if self.is_ready():
                return
            time.sleep(0.25)
        raise MattError(f"tritonserver was not ready after {timeout_s:.0f} s")

    def terminate(self) -> None:
        """Ask the server to drain in-flight requests and exit (SIGTERM)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float | None = None) -> int:
        """Wait for the server to exit; its exit code."""
        return self._running().wait(timeout_s)

    def stop(self) -> int:
        """SIGTERM, then wait for the drain; SIGKILL only if it outlasts the drain timeout."""
        process = self._running()
        self.terminate()
        try:
            return process.wait(self.drain_timeout_s + 15)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise MattError("the server was not started")
        return self.process

    def __enter__(self) -> TritonServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
