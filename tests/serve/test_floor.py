"""The serving floor imports no pipeline stage: exporting weights runs matt-export in a child."""

import subprocess
import sys

import pytest

from matt.errors import ExportError

STAGES = ("matt.training", "matt.export", "matt.defense", "matt.models", "torch")


def test_serve_modules_import_no_stage():
    code = ("import sys, matt.serve.cli, matt.serve.client, matt.serve.handler, "
            "matt.serve.service, matt.serve.bundles; "
            f"print(sorted(m for m in sys.modules if m.startswith({STAGES!r})))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert run.stdout.strip() == "[]", run.stdout


def test_weights_are_exported_by_a_child_process(monkeypatch, tmp_path):
    from matt.serve import bundles

    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        (tmp_path / "out").mkdir()
        return subprocess.CompletedProcess(command, 3, "", "error: weights are broken\n")

    monkeypatch.setattr(bundles.subprocess, "run", fake_run)
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    with pytest.raises(ExportError, match=r"matt-export .* failed: weights are broken"):
        bundles.export_in_child(weights, tmp_path / "cache" / "bundle")
    assert calls and "matt-export" in calls[0][0] and calls[0][1] == str(weights)
    assert not (tmp_path / "cache" / "bundle").exists()
