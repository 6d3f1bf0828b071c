"""``matt-serve`` supervising its servers: kill -9 of any of them under load, then SIGTERM, and
kill -9 of matt-serve itself: the service comes back, and nothing of ours is left behind (no
process of its groups, no shared-memory segment)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from matt.serve.client import MattClient
from matt.serve.processes import group_members, shm_segments, sweep_stale
from tests.serve.conftest import MATT_SERVE, free_ports, need_nginx, real_images, wait_for

SHM = "triton_python_backend_shm_region_matt"


def start(bundle: Path, log_path: Path, *extra: str) -> tuple[subprocess.Popen, list[int]]:
    need_nginx()
    ports = free_ports()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(MATT_SERVE), str(bundle), "--threads", "1", "--http-port", str(ports[0]),
             "--grpc-port", str(ports[1]), "--metrics-port", str(ports[2]), *extra],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    wait_for(log_path, "Stop with Ctrl-C", process, 120)
    return process, ports


def children(parent: int) -> dict[str, int]:
    """The group leaders matt-serve started: tritonserver and nginx."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[1]) == parent and stat[0] != "Z":
                found["nginx" if b"nginx" in command else "tritonserver"] = int(entry.name)
    return found


def stubs(triton: int) -> list[int]:
    return [pid for pid in group_members(triton) if pid != triton]


def nothing_left(groups: list[int], shm_prefix: str | None, timeout_s: float = 45.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        left = [pid for group in groups for pid in group_members(group)]
        segments = [path.name for path in shm_segments(shm_prefix)] if shm_prefix else []
        if not left and not segments:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left behind: processes {left}, shm {segments}")
        time.sleep(0.2)


class Load:
    """Two clients sending requests back to back; counts answers and errors."""

    def __init__(self, http_port: int) -> None:
        self.port, self.stop, self.ok, self.errors = http_port, threading.Event(), 0, 0
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(2)]
        for thread in self.threads:
            thread.start()

    def run(self) -> None:
        images, _ = real_images()
        with MattClient(f"127.0.0.1:{self.port}", timeout_s=20) as client:
            while not self.stop.is_set():
                try:
                    client.labels(images[:1])
                    self.ok += 1
                except Exception:
                    self.errors += 1
                    time.sleep(0.1)

    def end(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def serving_again(http_port: int, log_path: Path, timeout_s: float = 150.0) -> None:
    images, _ = real_images()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with MattClient(f"127.0.0.1:{http_port}", timeout_s=10) as client:
                if client.labels(images[:2]).shape == (2,):
                    return
        except Exception:
            time.sleep(0.5)
    raise AssertionError(f"not serving again:\n{log_path.read_text()[-3000:]}")


@pytest.mark.slow
def test_kill_9_of_each_server_then_sigterm(serve_bundle, tmp_path):
    log_path = tmp_path / "matt-serve.log"
    process, ports = start(serve_bundle, log_path)
    shm_prefix = f"{SHM}{process.pid}x"
    try:
        first = log_path.read_text()
        errors = [line for line in first.splitlines() if line.startswith("E1")]
        assert not errors, errors  # no error-level line on a normal CPU start
        load = Load(ports[0])
        time.sleep(1)
        groups = []
        for victim in ("tritonserver", "stub", "nginx"):
            leaders = children(process.pid)
            groups += list(leaders.values())
            target = stubs(leaders["tritonserver"])[0] if victim == "stub" else leaders[victim]
            os.kill(target, signal.SIGKILL)
            if victim != "stub":  # the dead one's group is gone, helpers included
                nothing_left([leaders[victim]], None, timeout_s=15)
            serving_again(ports[0], log_path)
            assert process.poll() is None
        load.end()
        assert load.ok > 0
        text = log_path.read_text()
        assert "tritonserver died" in text and "nginx died" in text
        assert "backend stub died" in text
        groups += list(children(process.pid).values())
        process.send_signal(signal.SIGTERM)
        assert process.wait(90) == 0
        nothing_left(groups, shm_prefix, timeout_s=10)
        assert "matt-serve: stopped" in log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_kill_9_of_matt_serve_leaves_nothing(serve_bundle, tmp_path):
    process, ports = start(serve_bundle, tmp_path / "matt-serve.log")
    shm_prefix = f"{SHM}{process.pid}x"
    groups = list(children(process.pid).values())
    assert len(groups) == 2 and shm_segments(shm_prefix)
    load = Load(ports[0])
    time.sleep(1)
    process.kill()
    process.wait()
    load.end()
    nothing_left(groups, shm_prefix)  # the children got SIGTERM and shut down their own
    # its run folder is what the next start sweeps
    removed = sweep_stale(SHM, Path(tempfile.gettempdir()) / "matt-serve-")
    assert any(name.startswith(f"matt-serve-{process.pid}-") for name in removed), removed


def test_a_taken_port_is_named_with_its_holder(serve_bundle, tmp_path):
    need_nginx()
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        others = free_ports(2)
        run = subprocess.run([str(MATT_SERVE), str(serve_bundle), "--http-port", str(port),
                              "--grpc-port", str(others[0]), "--metrics-port", str(others[1])],
                             capture_output=True, text=True, timeout=120)
    finally:
        holder.close()
    assert run.returncode == 2
    line = run.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: port {port} on 127.0.0.1 is in use by pid {os.getpid()}")
    assert "--http-port" in line
