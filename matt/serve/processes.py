"""Child processes that leave nothing behind: own process groups, parent-death signals, ports.

Every server process ``matt-serve`` starts (``tritonserver``, nginx) leads its own process group,
so the helpers it forks (Python-backend stubs, nginx workers) can be killed with it even when
the leader died first and they were re-parented to init. Each child also gets SIGTERM when
``matt-serve`` dies (``PR_SET_PDEATHSIG``), and then shuts down its own helpers.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from matt.core.processes import pid_alive
from matt.errors import MattError


def _find_prctl() -> object | None:
    try:
        return ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _find_prctl()  # looked up here: the child after fork only calls it


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, so no server outlives matt-serve.

    SIGPIPE is ignored too: a child whose log pipe closed (matt-serve gone) must still shut
    down its own helpers rather than die on its next log line.
    """
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # type: ignore[operator]  # 1 = PR_SET_PDEATHSIG


def _pump(source: IO[bytes], target: IO[bytes] | IO[str] | None,
          dropped: tuple[bytes, ...]) -> None:
    for line in iter(source.readline, b""):
        if any(needle in line for needle in dropped):
            continue
        with contextlib.suppress(OSError, ValueError):
            if target is None:
                sys.stderr.buffer.write(line)
                sys.stderr.flush()
            elif "b" in getattr(target, "mode", "b"):
                target.write(line)  # type: ignore[arg-type]
                target.flush()
            else:
                target.write(line.decode(errors="replace"))  # type: ignore[arg-type]
                target.flush()
    source.close()


def start_group(command: Sequence[str], *, env: dict[str, str] | None = None,
                log: IO[bytes] | IO[str] | None = None,
                drop_lines: tuple[bytes, ...] = ()) -> subprocess.Popen[bytes]:
    """Start ``command`` as the leader of a new session and process group.

    With ``drop_lines``, its output passes through a thread that leaves out the lines holding
    any of them (known, harmless messages) on the way to ``log`` (default: stderr).
    """
    if not drop_lines:
        return subprocess.Popen(
            list(command), env=env, stdout=log,
            stderr=subprocess.STDOUT if log is not None else None, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_die_with_parent)
    process = subprocess.Popen(
        list(command), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
    assert process.stdout is not None
    threading.Thread(target=_pump, args=(process.stdout, log, drop_lines), daemon=True,
                     name=f"log of {Path(command[0]).name}").start()
    return process


def group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            # /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def kill_group(pgid: int, timeout_s: float = 10.0) -> None:
    """SIGKILL every process of group ``pgid`` and wait until none is left."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except PermissionError:
            return  # the group id was reused by another user's processes: not ours
        if not group_members(pgid) or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def shm_segments(prefix: str) -> list[Path]:
    """The POSIX shared-memory segments in ``/dev/shm`` whose names start with ``prefix``."""
    root = Path("/dev/shm")
    return sorted(root.glob(f"{prefix}*")) if root.is_dir() else []


def remove_shm(prefix: str) -> int:
    """Remove the segments of ``prefix`` (a crashed server cannot); how many were removed."""
    removed = 0
    for path in shm_segments(prefix):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def sweep_stale(shm_prefix: str, run_prefix: Path) -> list[str]:
    """Remove what a matt-serve killed with -9 (together with its servers) left behind.

    Shared-memory segments ``<shm_prefix><pid>x...`` and run folders ``<run_prefix><pid>-...``
    of this user whose ``pid`` is no longer alive; returns their names.
    """
    removed = []
    for path in shm_segments(shm_prefix):
        pid = path.name[len(shm_prefix):].split("x", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)) and path.stat().st_uid == os.geteuid():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.name)
    for path in run_prefix.parent.glob(f"{run_prefix.name}*-*"):
        pid = path.name[len(run_prefix.name):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)) and path.is_dir() and \
                path.stat().st_uid == os.geteuid():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(inode)
    return inodes


def port_holder(port: int) -> str | None:
    """``pid N (command)`` of the process listening on ``port``, when this user may see it."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                        shown = command.decode(errors="replace").strip()[:120]
                        return f"pid {entry.name} ({shown})"
    return "a process of another user"


def check_port_free(address: str, port: int, option: str) -> None:
    """Raise a one-line :class:`MattError` naming the port and its holder if it is taken."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                holder = port_holder(port)
                held = f" by {holder}" if holder else ""
                raise MattError(f"port {port} on {address} is in use{held}; stop it or pick "
                                f"another port with {option}") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise MattError(f"{address}: not an address of this machine "
                                "(--address)") from None
            if exc.errno == errno.EACCES:
                raise MattError(f"port {port} needs privileges this user lacks; pick one "
                                f"above 1023 with {option}") from None
            raise MattError(f"cannot listen on {address}:{port} ({exc.strerror})") from None
