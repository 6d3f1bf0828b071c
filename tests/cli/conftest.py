"""Run a console script as a user would, in a fresh interpreter, optionally with some modules
made unimportable (``sys.modules[name] = None``: what Python does for a module that is not
installed, without uninstalling anything)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from matt.cli.launch import COMMANDS as MODULES

COMMANDS = tuple(MODULES)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def err_lines(self) -> list[str]:
        return self.stderr.strip().splitlines()


def run_command(prog: str, *args: str | Path, block: tuple[str, ...] = (),
                cwd: Path | None = None, timeout: float = 300) -> Run:
    """``prog ARGS`` exactly as its console script runs it (:func:`matt.cli.launch.launch`),
    with the modules ``block`` missing."""
    code = ("import sys\n"
            f"for name in {list(block)!r}:\n"
            "    sys.modules[name] = None\n"
            f"sys.argv[0] = {prog!r}\n"
            "from matt.cli.launch import launch\n"
            f"launch({prog!r})\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    if cwd is not None:
        env["MATT_CACHE_DIR"] = str(cwd / "cache")
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env)
    return Run(done.returncode, done.stdout, done.stderr)
