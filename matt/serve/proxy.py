"""nginx in front of Triton: the only listener on the network side of ``matt-serve``.

Triton 2.51 cannot bound a request's body size or body time, and its HTTP front aborts on a
JSON body declaring a huge shape; nginx (Debian's ``nginx-light`` with ``libnginx-mod-http-lua``)
does the bounding, and ``infer_guard.lua`` refuses the absurd shapes (see its header). The
config is rendered from ``nginx.conf.in`` into the run folder, which only this user can read.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from matt.errors import BackendUnavailable, MattError
from matt.serve.processes import kill_group, start_group

HERE = Path(__file__).parent
TEMPLATE = HERE / "nginx.conf.in"
GUARD = HERE / "infer_guard.lua"
MODULE_DIR = Path("/usr/lib/nginx/modules")
MODULES = ("ndk_http_module.so", "ngx_http_lua_module.so")
INSTALL_HINT = ("apt-get install nginx-light libnginx-mod-http-lua (Debian/Ubuntu); "
                "make env does it where apt-get may")
GRPC_SOCKET_PORT = 1  # Triton appends ":<port>" to a Unix socket path; the number is unused


def nginx_binary() -> Path:
    """The nginx executable with the Lua module, or :class:`BackendUnavailable` saying how."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None)
    if found is None:
        raise BackendUnavailable(f"matt-serve needs nginx in front of Triton: {INSTALL_HINT}")
    missing = [name for name in MODULES if not (MODULE_DIR / name).is_file()]
    if missing:
        raise BackendUnavailable(f"nginx has no Lua module ({', '.join(missing)} missing in "
                                 f"{MODULE_DIR}): {INSTALL_HINT}")
    return Path(found)


def _listen(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _user_line() -> str:
    # nginx started as root switches its workers to 'nobody', who cannot enter the run folder.
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};"


@dataclass(frozen=True)
class ProxyLimits:
    """What one request may cost: body bytes, and seconds to send the whole body."""

    max_body_bytes: int
    body_timeout_s: int


def render_config(run_dir: Path, address: str, http_port: int, grpc_port: int,
                  limits: ProxyLimits) -> str:
    """The nginx config text for a run folder holding Triton's sockets."""
    values = {
        "module_dir": str(MODULE_DIR), "user_line": _user_line(), "run_dir": str(run_dir),
        "lua_dir": str(run_dir), "listen": _listen(address), "http_port": str(http_port),
        "grpc_port": str(grpc_port), "grpc_socket_port": str(GRPC_SOCKET_PORT),
        "max_body_bytes": str(limits.max_body_bytes),
        "body_timeout_s": str(limits.body_timeout_s),
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


class NginxProxy:
    """One nginx master (and its worker) in its own process group.

    Args:
        run_dir: the private run folder (Triton's sockets, the config, nginx's temp files).
        address, http_port, grpc_port: where clients connect.
        limits: body size and time bounds.
        log: where nginx's error log goes.
    """

    def __init__(self, run_dir: Path, address: str, http_port: int, grpc_port: int,
                 limits: ProxyLimits, log: IO[bytes] | IO[str] | None = None) -> None:
        self.run_dir = run_dir
        self.config = run_dir / "nginx.conf"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        binary = nginx_binary()
        self._command = [str(binary), "-q", "-e", "stderr", "-p", str(run_dir),
                         "-c", str(self.config)]
        text = render_config(run_dir, address, http_port, grpc_port, limits)
        shutil.copyfile(GUARD, run_dir / GUARD.name)
        self.config.write_text(text)
        self.config.chmod(0o600)
        check = subprocess.run([*self._command, "-t"], capture_output=True, text=True,
                               check=False)
        if check.returncode != 0:
            lines = [line for line in check.stderr.splitlines() if "emerg" in line]
            raise MattError(f"nginx refused its config: {(lines or [check.stderr])[0][:300]}")

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            raise MattError("the proxy is running already")
        self.process = start_group(self._command, log=self.log)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Graceful stop (SIGQUIT: open requests finish), then the whole group is killed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reap()

    def reap(self) -> None:
        """After the master exited (or was killed): no worker of its group is left."""
        if self.process is not None:
            kill_group(self.process.pid)
