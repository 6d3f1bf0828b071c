"""The ``gpu``-marked tests, run by pytest in a child process inside their share of the budget.

Only the test files that hold the marker are given to pytest, so a test module that needs a
library the lent machine lacks (tritonclient, foolbox) is not collected; one of those files
that fails to import is an error in the record while the others still run. The child
has its own process group: at the deadline the whole group is killed, nothing is left behind.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

MARKER = "pytest.mark.gpu"
TAIL_LINES = 40


def gpu_test_files(tests_dir: Path) -> list[Path]:
    """Test files under ``tests_dir`` that use the ``gpu`` marker, sorted."""
    return sorted(path for path in tests_dir.rglob("test_*.py")
                  if MARKER in path.read_text(errors="replace"))


def run_gpu_tests(mode: str, repo: Path, timeout_s: float) -> dict[str, Any]:
    """Run (``run``) or list (``collect``) the gpu tests; the record says what happened."""
    if mode == "skip":
        return {"mode": mode, "ran": False, "reason": "--tests skip"}
    if importlib.util.find_spec("pytest") is None:
        return {"mode": mode, "ran": False, "reason": "pytest is not installed: the gpu tests "
                                                     "did not run"}
    tests_dir = repo / "tests"
    files = gpu_test_files(tests_dir) if tests_dir.is_dir() else []
    if not files:
        return {"mode": mode, "ran": False, "reason": f"no test file with {MARKER} under "
                                                     f"{tests_dir}"}
    if timeout_s < 1:
        return {"mode": mode, "ran": False, "reason": "no budget left for the tests"}
    with tempfile.TemporaryDirectory(prefix="matt-gpu-tests-") as scratch:
        junit = Path(scratch) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p",
                   "no:cacheprovider", "--continue-on-collection-errors",
                   f"--junitxml={junit}",
                   *(["--collect-only"] if mode == "collect" else []),
                   *(str(path.relative_to(repo)) for path in files)]
        code, output, wall_s, timed_out = _run(command, repo, timeout_s)
        outcomes = _outcomes(junit) if mode == "run" and junit.is_file() else {}
    lines = output.splitlines()
    record: dict[str, Any] = {
        "mode": mode, "ran": True, "command": " ".join(["python", *command[1:]]).replace(
            f"--junitxml={junit}", "--junitxml=<tmp>"),
        "files": [str(path.relative_to(repo)) for path in files], "exit_code": code,
        "timed_out": timed_out, "wall_s": round(wall_s, 1), "tail": lines[-TAIL_LINES:]}
    if mode == "collect":
        record["collected"] = [line for line in lines if "::" in line]
    else:
        record["outcomes"] = outcomes
        record["counts"] = {state: sum(1 for v in outcomes.values() if v.startswith(state))
                            for state in ("passed", "failed", "error", "skipped")}
    if timed_out:
        record["reason"] = f"stopped at its share of the budget ({timeout_s:.0f} s)"
    return record


def _run(command: list[str], repo: Path, timeout_s: float) -> tuple[int | None, str, float,
                                                                     bool]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(repo), *filter(None, [environment.get("PYTHONPATH")])])
    started = time.monotonic()
    child = subprocess.Popen(command, cwd=repo, env=environment, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = child.communicate(timeout=timeout_s)
        return child.returncode, output, time.monotonic() - started, False
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        output, _ = child.communicate()
        return None, output, time.monotonic() - started, True
    except BaseException:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        raise


def _outcomes(junit: Path) -> dict[str, str]:
    """``{test id: passed | failed: ... | error: ... | skipped: reason}`` from pytest's XML."""
    outcomes = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        state = "passed"
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                verb = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                state = f"{verb}: {(found.get('message') or '').splitlines()[0][:300]}" \
                    if found.get("message") else verb
                break
        outcomes[name] = state
    return outcomes
