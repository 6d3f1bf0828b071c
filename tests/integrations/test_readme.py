"""The README's in-process worked example, run as written (docs/api.md points here)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from matt.assets import WEIGHTS_DIR
from matt.formats.weights import load_weights

README = Path(__file__).parents[2] / "README.md"
VENV_BIN = Path(sys.executable).parent


def _in_process_example() -> list[str]:
    """The shell lines of the README block that exports a bundle and runs a Pipeline."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    chosen = [b for b in blocks if "matt-export" in b and "Pipeline.load" in b]
    assert len(chosen) == 1, "the README's in-process example is missing or doubled"
    commands, current = [], ""
    for line in chosen[0].splitlines():
        current += line.split("  #")[0].rstrip() + "\n" if current or line.strip() else ""
        if current and current.count('"') % 2 == 0:
            commands.append(current.strip())
            current = ""
    return commands


def test_the_readme_block_is_what_this_test_runs():
    commands = _in_process_example()
    assert [c.split()[0] for c in commands] == [".venv/bin/matt-export", ".venv/bin/python"]
    assert "pipe.predict(s.images)" in commands[1]


@pytest.mark.slow
def test_the_readme_in_process_example_runs(tmp_path):
    """Export the shipped cifar10 weights, then classify the 20 real CIFAR-10 images behind
    MATT; the README's results say 19 of 20 are right."""
    outputs = []
    for command in _in_process_example():
        argv = shlex.split(command)
        argv[0] = str(VENV_BIN / Path(argv[0]).name)
        result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True,
                                timeout=1500)
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append(result.stdout)
    assert (tmp_path / "bundles" / "cifar10" / "manifest.json").is_file()
    last = outputs[-1].strip().splitlines()[-1]
    shipped = len(load_weights(WEIGHTS_DIR / "cifar10.pt").pool)
    assert "onnxruntime" in last and f"pool {shipped} " in last, last
    accuracy = float(last.split()[-1])
    assert accuracy >= 0.85, last
