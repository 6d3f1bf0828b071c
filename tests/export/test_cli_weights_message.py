"""``matt-export`` on a file that is not a weights file names the problem, not torch's detail."""

from __future__ import annotations

import re

import torch

from tests.export.conftest import invoke_cli


def _one_line(run) -> str:
    assert run.exit_code == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def test_a_text_file_is_not_a_torch_file_and_no_torch_opcode_is_shown(tmp_path):
    path = tmp_path / "notweights.pt"
    path.write_text("hello, not a model\n")
    line = _one_line(invoke_cli(path, "-o", tmp_path / "out"))
    assert line == (f"error: {path}: not a readable weights file (not a torch file); "
                    "make one with matt-train")
    assert not re.search(r"\(\d+\)|'\d+'", line)


def test_a_truncated_torch_file_is_called_damaged(tmp_path):
    path = tmp_path / "cut.pt"
    torch.save({"w": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:300])
    assert "damaged or truncated" in _one_line(invoke_cli(path, "-o", tmp_path / "out"))


def test_a_pickle_of_objects_is_refused_without_loading_it(tmp_path):
    path = tmp_path / "objects.pt"
    torch.save({"where": tmp_path}, path)
    assert "holds Python objects" in _one_line(invoke_cli(path, "-o", tmp_path / "out"))
