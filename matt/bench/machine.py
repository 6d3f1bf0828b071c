"""What ran the benchmark: CPU, threads, library versions, GPU, load, command line, revision.

Ratios from a shared machine mean something only next to how busy it was, so the load average
is recorded at the start and the end of the run.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

QUIET_LOAD = 1.5
LIBRARIES = ("torch", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt",
             "matplotlib", "matt")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def gpu_info() -> dict[str, Any]:
    """The CUDA device torch sees, or why there is none."""
    try:
        import torch
    except ImportError:
        return {"present": False, "reason": "torch is not installed"}
    if not torch.cuda.is_available():
        return {"present": False, "reason": "no CUDA GPU visible (torch.cuda.is_available() is "
                                            f"False; torch {torch.__version__})"}
    index = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    return {"present": True, "name": props.name, "index": index,
            "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda}


def git_state(repo: Path | None = None) -> dict[str, Any]:
    """The revision of the checkout and whether it had uncommitted changes."""
    where = repo or Path(__file__).resolve().parents[2]
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                  check=True, cwd=where).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, check=True, cwd=where).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"revision": "unknown", "dirty": None}
    return {"revision": revision, "dirty": bool(status.strip())}


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def machine_info(threads: int) -> dict[str, Any]:
    """Everything about the machine a reader needs to weigh the figures."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "threads": threads,
        "platform": platform.platform(),
        "libraries": library_versions(),
        "gpu": gpu_info(),
    }


def run_context(argv: list[str] | None = None) -> dict[str, Any]:
    """The command line, the time and the git revision of this run."""
    args = sys.argv if argv is None else argv
    return {
        "command_line": shlex.join(["matt-bench", *args[1:]]),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git": git_state(),
    }


def quiet_verdict(start: list[float], end: list[float]) -> dict[str, Any]:
    """Whether the 1-minute load average stayed under :data:`QUIET_LOAD` (before our own load).

    The start figure is taken before the benchmark starts; the end figure includes the
    benchmark's own threads, so it is recorded but not judged.
    """
    quiet = bool(start) and start[0] < QUIET_LOAD
    return {"load_average_start": start, "load_average_end": end, "threshold": QUIET_LOAD,
            "quiet": quiet,
            "note": "machine quiet at the start" if quiet else
                    "machine busy at the start: other processes shared the CPU, figures are noisy"}


def _busy_cpu_seconds() -> float | None:
    """CPU seconds every process on the machine has spent busy since boot (/proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    ticks = [int(v) for v in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class ForeignLoad:
    """How much CPU other processes took while a table was timed.

    Busy CPU time of the whole machine minus this process's own, over the wall time: 0 on a
    quiet machine, up to the core count when every core was taken by someone else.
    """

    def __init__(self) -> None:
        self._start_busy = _busy_cpu_seconds()
        self._start_own = _own_cpu_seconds()
        self._start_wall = time.monotonic()

    def cores_taken(self) -> float | None:
        busy = _busy_cpu_seconds()
        if busy is None or self._start_busy is None:
            return None
        wall = time.monotonic() - self._start_wall
        foreign = (busy - self._start_busy) - (_own_cpu_seconds() - self._start_own)
        return round(max(0.0, foreign) / wall, 2) if wall > 0 else None


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system
