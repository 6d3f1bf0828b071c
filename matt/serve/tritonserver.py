"""Running the ``tritonserver`` binary that the ``nvidia-pytriton`` wheel carries.

The wheel's ``pytriton/tritonserver/`` tree is copied once into the cache with the Python
backend stub of this interpreter's version placed in ``backends/python/``; the server runs with
the wheel's ``nvidia_pytriton.libs`` on ``LD_LIBRARY_PATH`` and this interpreter's ``bin/``
first on ``PATH``, so the stub's embedded Python finds the same packages (``matt``, ONNX Runtime).

Under ``matt-serve`` the HTTP and gRPC fronts listen on Unix sockets in a private run folder
(mode 0700): no other local user can reach Triton, and nginx (``proxy.py``) is its only way in.
Each start leads its own process group and names its shared memory with a prefix of its own,
so a crash is cleaned up completely: the group is killed, the segments are removed.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from matt.errors import BackendUnavailable, MattError
from matt.serve.cache import cache_root
from matt.serve.processes import group_members, kill_group, remove_shm, start_group

# The Python backend names its shared-memory regions with this prefix (its default) plus ours.
SHM_PREFIX = "triton_python_backend_shm_region_"
OUR_SHM = "matt"  # then the pid of the process that started the server, "x" and a random tag
GRPC_SOCKET_PORT = 1  # Triton appends ":<port>" to a Unix socket path; the number is unused
# Logged on every start without a GPU (an error line for a GPU-only feature, and a warning
# that a Unix socket has no TCP_NODELAY): left out of matt-serve's log as noise.
CPU_NOISE = (b"CudaDriverHelper has not been initialized", b"NODELAY NOT SUPPORTED")


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


def _no_gpu() -> bool:
    return not Path("/dev/nvidia0").exists() and not Path("/dev/nvidiactl").exists()


class TritonServer:
    """One ``tritonserver`` process (and its backend stubs) serving a model repository.

    Args:
        repository: the model repository folder.
        ports: HTTP, gRPC and metrics ports (HTTP and gRPC unused with ``socket_dir``).
        address: the interface the TCP ports listen on.
        socket_dir: a private folder: HTTP and gRPC listen on Unix sockets there instead.
        drain_timeout_s: on SIGTERM, how long in-flight requests may take to finish.
        log: where the server's log goes (default: this process's stdout and stderr).
    """

    def __init__(self, repository: str | Path, ports: Ports = Ports(), *,
                 address: str = "127.0.0.1", socket_dir: Path | None = None,
                 drain_timeout_s: int = 30, log: IO[bytes] | IO[str] | None = None) -> None:
        self.repository = Path(repository)
        self.ports = ports
        self.address = address
        self.socket_dir = socket_dir
        self.drain_timeout_s = drain_timeout_s
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.shm_prefix = ""
        self.stubs: set[int] = set()

    @property
    def local_address(self) -> str:
        """Where a client on this machine reaches the TCP ports."""
        return "127.0.0.1" if self.address in ("0.0.0.0", "") else (
            "::1" if self.address == "::" else self.address)

    @property
    def http_socket(self) -> Path | None:
        return None if self.socket_dir is None else self.socket_dir / "http.sock"

    @property
    def grpc_socket(self) -> Path | None:
        return None if self.socket_dir is None else self.socket_dir / "grpc.sock"

    def command(self, tree: Path) -> list[str]:
        if self.socket_dir is None:
            fronts = [f"--http-address={self.address}", f"--http-port={self.ports.http}",
                      f"--grpc-address={self.address}", f"--grpc-port={self.ports.grpc}"]
        else:
            fronts = [f"--http-address=unix:{self.http_socket}", "--http-port=1",
                      f"--grpc-address=unix:{self.grpc_socket}",
                      f"--grpc-port={GRPC_SOCKET_PORT}"]
        cpu_only = ["--enable-peer-access=false", "--pinned-memory-pool-byte-size=0",
                    "--cuda-memory-pool-byte-size=0:0"] if _no_gpu() else []
        return [
            str(tree / "bin" / "tritonserver"),
            f"--model-repository={self.repository}",
            f"--backend-directory={tree / 'backends'}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            *fronts,
            f"--metrics-address={self.address}", f"--metrics-port={self.ports.metrics}",
            "--allow-gpu-metrics=false",
            "--disable-auto-complete-config",
            "--model-control-mode=none",  # load and unload are refused by Triton itself
            f"--exit-timeout-secs={self.drain_timeout_s}",
            *cpu_only,
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
        self.shm_prefix = f"{SHM_PREFIX}{OUR_SHM}{os.getpid()}x{secrets.token_hex(4)}_"
        for path in (self.http_socket, self.grpc_socket):
            if path is not None:
                path.unlink(missing_ok=True)
        self.process = start_group(self.command(tree), env=self.environment(), log=self.log,
                                   drop_lines=CPU_NOISE if _no_gpu() else CPU_NOISE[1:])

    def is_ready(self) -> bool:
        try:
            return self._get("/v2/health/ready") == 200
        except OSError:
            return False

    def _get(self, path: str) -> int:
        if self.socket_dir is None:
            connection = http.client.HTTPConnection(self.local_address, self.ports.http,
                                                    timeout=2)
        else:
            connection = _UnixHTTPConnection(str(self.http_socket), timeout=2)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        finally:
            connection.close()

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Block until every model is loaded and the server answers ready.

        Raises:
            MattError: the server exited (a model that fails to load) or did not become
                ready in time.
        """
        process = self._running()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise MattError(f"tritonserver exited with code {process.returncode} while "
                                "starting; its log above says why (a model that failed to "
                                "load?)")
            if self.is_ready():
                self.stubs = set(group_members(process.pid)) - {process.pid}
                return
            time.sleep(0.25)
        raise MattError(f"tritonserver was not ready after {timeout_s:.0f} s")

    def lost_a_stub(self) -> bool:
        """Whether a backend stub of the running server died: Triton 2.51 then answers
        'Stub process is not healthy' to every request of that model, and stays ready."""
        if not self.stubs or self.process is None:
            return False
        return not self.stubs <= set(group_members(self.process.pid))

    def terminate(self) -> None:
        """Ask the server to drain in-flight requests and exit (SIGTERM)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float | None = None) -> int:
        """Wait for the server to exit; its exit code."""
        return self._running().wait(timeout_s)

    def stop(self) -> int:
        """SIGTERM, then wait for the drain; SIGKILL only if it outlasts the drain timeout.

        Either way the process group is killed and the shared memory removed afterwards.
        """
        process = self._running()
        self.terminate()
        try:
            code = process.wait(self.drain_timeout_s + 15)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        self.reap()
        return code

    def reap(self) -> None:
        """After the server exited (or was killed): kill its stubs, remove its shared memory."""
        if self.process is not None:
            kill_group(self.process.pid)
        self.stubs = set()
        if self.shm_prefix:
            remove_shm(self.shm_prefix)

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


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (Triton's HTTP front in the run folder)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock
