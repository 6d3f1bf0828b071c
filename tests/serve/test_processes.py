"""The pieces of supervision on their own: process groups, shared memory, ports, the proxy
config."""

import os
import re
import socket
import subprocess
import sys
import time

import pytest

from matt.errors import BackendUnavailable, MattError
from matt.serve import proxy
from matt.serve.processes import (
    check_port_free,
    group_members,
    kill_group,
    port_holder,
    remove_shm,
    shm_segments,
    start_group,
    sweep_stale,
)
from matt.serve.proxy import ProxyLimits, render_config


def test_a_group_is_killed_with_its_orphans(tmp_path):
    # a leader that forks a child ignoring SIGTERM, then dies: the child is an orphan
    script = ("import os, signal, time\n"
              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "if os.fork() == 0:\n    time.sleep(120)\n"
              "else:\n    time.sleep(0.5); os._exit(0)\n")
    leader = start_group([sys.executable, "-c", script])
    deadline = time.monotonic() + 10
    while len(group_members(leader.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    leader.wait(10)
    assert group_members(leader.pid), "the orphan should still be alive"
    kill_group(leader.pid)
    assert group_members(leader.pid) == []


def test_only_our_prefix_of_shared_memory_is_removed():
    ours = f"/dev/shm/matt-test-{os.getpid()}-a"
    other = f"/dev/shm/matt-test-other-{os.getpid()}"
    for path in (ours, other):
        with open(path, "wb") as handle:
            handle.write(b"x")
    try:
        assert remove_shm(f"matt-test-{os.getpid()}-") == 1
        assert not shm_segments(f"matt-test-{os.getpid()}-")
        assert os.path.exists(other)
    finally:
        for path in (ours, other):
            if os.path.exists(path):
                os.unlink(path)


def test_a_taken_port_names_its_holder():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert port_holder(port).startswith(f"pid {os.getpid()} (")
        with pytest.raises(MattError, match=f"port {port} on 127.0.0.1 is in use by pid "
                                            f"{os.getpid()}.*--http-port"):
            check_port_free("127.0.0.1", port, "--http-port")
    check_port_free("127.0.0.1", port, "--http-port")  # free again: no error


def test_an_address_not_of_this_machine_is_named():
    with pytest.raises(MattError, match="not an address of this machine"):
        check_port_free("192.0.2.1", 8000, "--http-port")


def test_the_config_renders_and_nginx_accepts_it(tmp_path):
    text = render_config(tmp_path, "::1", 18000, 18001, ProxyLimits(1 << 20, 7))
    assert "listen [::1]:18000;" in text and "listen [::1]:18001 http2;" in text
    assert "client_max_body_size 1048576;" in text and "set $matt_body_seconds 7;" in text
    assert not re.search(r"@[a-z_]+@", text.split("\n", 5)[-1])  # every placeholder filled
    try:
        binary = proxy.nginx_binary()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    (tmp_path / "nginx.conf").write_text(text)
    check = subprocess.run([str(binary), "-q", "-e", "stderr", "-p", str(tmp_path), "-c",
                            str(tmp_path / "nginx.conf"), "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_a_missing_lua_module_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(proxy, "MODULE_DIR", tmp_path)
    with pytest.raises(BackendUnavailable, match="libnginx-mod-http-lua"):
        proxy.nginx_binary()


def test_leftovers_of_dead_servers_are_swept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid, live_pid = int(dead.stdout), os.getpid()
    prefix = f"matt-sweep-test{live_pid}-"
    segments = [f"/dev/shm/{prefix}{pid}xabc_1" for pid in (dead_pid, live_pid)]
    for path in segments:
        with open(path, "wb") as handle:
            handle.write(b"x")
    runs = [tmp_path / f"matt-serve-{pid}-abc" for pid in (dead_pid, live_pid)]
    for path in runs:
        path.mkdir()
    try:
        removed = sweep_stale(prefix, tmp_path / "matt-serve-")
        assert sorted(removed) == sorted([os.path.basename(segments[0]), runs[0].name])
        assert not os.path.exists(segments[0]) and os.path.exists(segments[1])
        assert not runs[0].exists() and runs[1].exists()
    finally:
        for path in segments:
            if os.path.exists(path):
                os.unlink(path)
