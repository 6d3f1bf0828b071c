"""``matt-bench`` end to end with tiny counts, and its errors: one line, non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from matt.bench.cli import main

TINY = ["--k", "1,2", "--size", "16", "--iterations", "3", "--warmup", "1", "--quiet",
        "--accuracy-images", "0", "--threads", "1"]


@pytest.fixture
def small_weights(tmp_path):
    """A random-init 16×16 subject with two members: the bundle needs no resizing."""
    from matt.training.weights import save_weights
    from tests.conftest import make_weights

    return save_weights(make_weights(size=16, pool_size=2), tmp_path / "weights16.pt")


def _run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["matt-bench", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    captured = capsys.readouterr()
    return stopped.value.code, captured.out, captured.err


def _timed_rows(result: dict) -> list[tuple[str, dict]]:
    return [item for table in result["tables"].values() for item in table["rows"].items()]


def test_latency_runs_end_to_end_and_writes_json_markdown_png(tmp_path, small_weights,
                                                              monkeypatch, capsys):
    out = tmp_path / "results"
    monkeypatch.setattr(sys, "argv", [
        "matt-bench", "latency", *TINY, "--weights", str(small_weights), "-o", str(out),
        "--backend", "torch,onnxruntime,tensorrt", "--precision", "fp32",
        "--family", "classifier,matt,disco-ensemble,liif-no-local-ensemble,disco-encoder-whole"])
    main()
    result = json.loads((out / "latency-weights16.json").read_text())
    table = result["tables"]["batch1-16x16"]
    for expected in ("classifier/torch-fp32", "classifier/onnxruntime-fp32",
                     "matt/torch-fp32/K=1", "matt/torch-fp32/K=2",
                     "matt/onnxruntime-fp32/K=1", "matt/onnxruntime-fp32/K=2",
                     "disco-ensemble/torch-fp32/K=1", "disco-ensemble/torch-fp32/K=2",
                     "liif-no-local-ensemble/torch-fp32/K=1", "disco-encoder-whole/torch-fp32/K=1"):
        assert expected in table["rows"], table["skipped"]
    for name, row in _timed_rows(result):
        assert row["n"] == 3, (name, row, table["rounds"])
        assert 0 < row["min_ms"] <= row["median_ms"] <= row["p99_ms"] <= row["max_ms"], (name, row)
    assert "no CUDA GPU" in table["skipped"]["*/tensorrt"] or result["machine"]["gpu"]["present"]
    assert result["machine"]["cpu_model"] and result["machine"]["libraries"]["torch"]
    assert result["run"]["command_line"].startswith("matt-bench latency")
    assert result["run"]["git"]["revision"]
    assert {f["passed"] for f in result["figures"]} <= {True, False, None}
    formulation = next(d for d in result["diagnostics"] if d["id"] == "formulation_vs_disco")
    assert formulation["value"] > 0
    assert (out / "latency-weights16-ms-vs-k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| figure |" in (out / "latency-weights16.md").read_text()
    assert not list(out.glob(".*")), "a temporary file was left behind"
    shown = capsys.readouterr().out
    assert f"wrote {out / 'latency-weights16.json'}" in shown
    assert "| row | median ms | p99 ms |" in shown and "| matt/torch-fp32/K=2 |" in shown
    assert shown.startswith(f"matt-bench latency: {small_weights}, 2 trained members")


def test_roofline_times_the_largest_pool_against_sgemm(tmp_path, small_weights, monkeypatch):
    out = tmp_path / "results"
    monkeypatch.setattr(sys, "argv", [
        "matt-bench", "roofline", *TINY, "--batch", "4", "--weights", str(small_weights),
        "--backend", "torch", "-o", str(out)])
    main()
    result = json.loads((out / "roofline-weights16.json").read_text())
    rows = result["tables"]["batch4-16x16"]["rows"]
    assert set(rows) == {"matt/torch-fp32/K=2", "sgemm/numpy-fp32", "sgemm/torch-fp32"}
    assert all(row["achieved_gflops"] > 0 for row in rows.values())
    figure = next(f for f in result["figures"] if f["id"] == "roofline")
    assert figure["value"] == pytest.approx(
        rows["matt/torch-fp32/K=2"]["achieved_gflops"] / figure["peak_gflops"], rel=1e-2)
    assert (out / "roofline-weights16-gflops-vs-sgemm.png").is_file()
    assert not (out / "roofline-weights16-ms-vs-k.png").exists()  # one K: nothing to plot against


@pytest.mark.parametrize("args, needle", [
    (["latency", "--k", "0"], "--k"),
    (["latency", "--k", "one,two"], "--k"),
    (["latency", "--backend", "cuda"], "--backend"),
    (["latency", "--size", "4"], "image sizes"),
    (["latency", "--iterations", "0"], "--iterations"),
    (["latency", "--weights", "/no/such/weights.pt"], "no such weights file"),
])
def test_bad_flags_give_one_line_and_a_non_zero_exit(monkeypatch, capsys, args, needle):
    code, _, err = _run_main(monkeypatch, capsys, *args)
    assert code != 0
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert needle in err


def test_the_console_script_exits_non_zero_on_a_bad_flag():
    done = subprocess.run([sys.executable, "-c", "from matt.bench.cli import main; main()",
                           "throughput", "--batch", "x"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1


def test_an_unknown_command_keeps_the_usage_line(monkeypatch, capsys):
    code, _, err = _run_main(monkeypatch, capsys, "speed")
    lines = err.splitlines()
    assert code == 2 and lines[0] == "Usage: matt-bench [OPTIONS] COMMAND [ARGS]..."
    assert lines[1] == "Try 'matt-bench -h' for help." and lines[-1].startswith("error: ")
    assert "speed" in lines[-1]
