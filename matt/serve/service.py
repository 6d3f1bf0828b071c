"""The supervised service: nginx in front, Triton behind it, nothing left over when it ends.

A private run folder (mode 0700) holds the model repository, Triton's Unix sockets, the nginx
config and its temp files. :meth:`Service.supervise` restarts whichever server dies (a Triton
crash, a killed nginx), killing the dead one's process group and removing its shared memory
first; restarts are rate-limited, never given up once the service has been ready.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from matt.errors import MattError
from matt.serve.options import ServeOptions
from matt.serve.processes import check_port_free, sweep_stale
from matt.serve.proxy import NginxProxy, ProxyLimits
from matt.serve.repository import write_model_repository
from matt.serve.tritonserver import OUR_SHM, SHM_PREFIX, Ports, TritonServer

FAILED_RESTARTS = 3  # restarts in a row that never got ready: something is broken for good


def _say(message: str) -> None:
    import click

    click.echo(f"matt-serve: {message}", err=True)


class Service:
    """nginx + Triton for one bundle.

    Args:
        bundle_dir: a verified bundle folder.
        options: what is served and the limits per request.
        ports: the public HTTP (nginx), gRPC (nginx) and metrics (Triton) ports.
        address: the interface those listen on.
        drain_timeout_s: on stop, how long in-flight requests may take.
        restarts_per_minute: crashes restarted at once; beyond it, restarts wait.
        log: the servers' log (default: stderr).
        say: where the service's own one-line notes go.
    """

    def __init__(self, bundle_dir: Path, options: ServeOptions, ports: Ports, *,
                 address: str = "127.0.0.1", drain_timeout_s: int = 30,
                 restarts_per_minute: int = 5, log: IO[bytes] | IO[str] | None = None,
                 say: Callable[[str], None] = _say) -> None:
        for port, option in ((ports.http, "--http-port"), (ports.grpc, "--grpc-port"),
                             (ports.metrics, "--metrics-port")):
            check_port_free(address, port, option)
        self.ports, self.address, self.options = ports, address, options
        self.restarts_per_minute = restarts_per_minute
        self.say = say
        self.stopping = threading.Event()
        self._stopped = threading.Event()
        self.failure: str | None = None
        self.restarts = 0
        run_prefix = f"matt-serve-{os.getpid()}-"
        stale = sweep_stale(SHM_PREFIX + OUR_SHM, Path(tempfile.gettempdir()) / "matt-serve-")
        if stale:
            say(f"removed {len(stale)} leftovers of a matt-serve killed with -9")
        self.run_dir = Path(tempfile.mkdtemp(prefix=run_prefix))
        self.run_dir.chmod(0o700)
        try:
            self.models = write_model_repository(bundle_dir, self.run_dir / "repository",
                                                 options)
            self.triton = TritonServer(self.run_dir / "repository", ports, address=address,
                                       socket_dir=self.run_dir,
                                       drain_timeout_s=drain_timeout_s, log=log)
            self.proxy = NginxProxy(self.run_dir, address, ports.http, ports.grpc,
                                    ProxyLimits(options.max_body_bytes, options.body_timeout_s),
                                    log=log)
        except BaseException:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise

    @property
    def local_address(self) -> str:
        return self.triton.local_address

    def ready(self) -> bool:
        """Whether the public HTTP port answers ready (through nginx)."""
        connection = http.client.HTTPConnection(self.local_address, self.ports.http, timeout=2)
        try:
            connection.request("GET", "/v2/health/ready")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def start(self, timeout_s: float = 180.0) -> None:
        """Start both servers and wait until the public port answers ready."""
        self.triton.start()
        self.triton.wait_ready(timeout_s)
        self.proxy.start()
        self._wait_proxy(timeout_s)

    def _wait_proxy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.proxy.running():
                raise MattError("nginx exited while starting; its log above says why")
            if self.ready():
                return
            time.sleep(0.1)
        raise MattError(f"nginx did not answer after {timeout_s:.0f} s")

    def supervise(self) -> None:
        """Until :meth:`request_stop`: restart whichever server died.

        Servers restarted here get SIGTERM when the calling thread ends (``PR_SET_PDEATHSIG``
        follows the thread that forked), so this returns only after :meth:`stop` has stopped
        them. Giving up (restarts that never get ready) sets :attr:`failure` and requests a stop.
        """
        try:
            self._watch()
        except MattError as exc:
            self.failure = str(exc)
            self.request_stop()
        finally:
            self._stopped.wait()

    def _watch(self) -> None:
        crashes: list[float] = []
        failed = 0
        while not self.stopping.is_set():
            time.sleep(0.2)
            triton_dead = self.triton.process is not None and self.triton.process.poll() is not None
            if not triton_dead and self.triton.lost_a_stub() and not self.stopping.is_set():
                self.say("a Triton backend stub died; restarting tritonserver")
                self.triton.process.kill()  # type: ignore[union-attr]
                self.triton.process.wait()  # type: ignore[union-attr]
                triton_dead = True
            if self.stopping.is_set() or not (triton_dead or not self.proxy.running()):
                continue
            now = time.monotonic()
            crashes = [t for t in crashes if now - t < 60.0] + [now]
            if len(crashes) > self.restarts_per_minute:
                wait = 60.0 - (now - crashes[-self.restarts_per_minute - 1])
                self.say(f"{len(crashes)} crashes in a minute; restarting in {wait:.0f} s")
                if self.stopping.wait(max(wait, 0.0)):
                    break
            try:
                self._restart(triton_dead)
                failed = 0
            except MattError as exc:
                failed += 1
                if failed >= FAILED_RESTARTS:
                    raise MattError(f"{failed} restarts in a row failed; giving up ({exc})") \
                        from None
                self.say(f"restart failed ({exc}); trying again")

    def _restart(self, triton_dead: bool) -> None:
        if triton_dead:
            code = self.triton.process.returncode if self.triton.process else None
            self.triton.reap()  # its stubs and shared memory
            self.say(f"tritonserver died (exit code {code}); restarting")
            self.triton.start()
            self.triton.wait_ready()
        if not self.proxy.running():
            code = self.proxy.process.returncode if self.proxy.process else None
            self.proxy.reap()  # its workers
            self.say(f"nginx died (exit code {code}); restarting")
            self.proxy.start()
            self._wait_proxy(30)
        self.restarts += 1
        self.say("restarted, ready again")

    def request_stop(self) -> None:
        """Begin a graceful stop: Triton drains its in-flight requests (safe in a signal
        handler)."""
        self.stopping.set()
        self.triton.terminate()

    def stop(self) -> int:
        """Drain Triton, then stop nginx; kill both groups, remove shared memory and the run
        folder. Triton's exit code (0 when it drained cleanly)."""
        self.stopping.set()
        code = 0
        try:
            if self.triton.process is not None:
                code = self.triton.stop()
        finally:
            self.proxy.stop()
            self.triton.reap()
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self._stopped.set()
        return code


@contextlib.contextmanager
def running_service(bundle_dir: Path, options: ServeOptions, ports: Ports, **kwargs: object
                    ) -> Iterator[Service]:
    """A started, ready service, supervised in a thread; stopped on exit."""
    service = Service(bundle_dir, options, ports, **kwargs)  # type: ignore[arg-type]
    try:
        service.start()
        supervisor = threading.Thread(target=service.supervise, daemon=True,
                                      name="matt-serve supervisor")
        supervisor.start()
        yield service
    finally:
        service.stop()
