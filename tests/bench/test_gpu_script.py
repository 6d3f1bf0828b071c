"""The GPU script (``benchmarks/gpu.sh``, ``python -m matt.bench.gpu``) on the CPU: the dry run
end to end and the record it writes, the budget that stops a table, the one-line refusal where
no CUDA device exists, and the pieces (lists, statistics, the pytest child)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from matt.bench.gpu import gpu_tests
from matt.bench.gpu.clock import Budget, row_stats
from matt.bench.gpu.main import main, run
from matt.bench.gpu.spec import DEFAULT_OUT, DRY_RUN, GpuSpec, _int_list
from matt.errors import SpecError

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu.sh"
ROWS = ("classifier", "matt/K=1", "matt/K=2", "matt+classifier/K=2", "disco/K=1")


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[Path, dict, str, str]:
    """One CPU dry run for the whole module: the folder, the JSON, the Markdown, stdout."""
    out = tmp_path_factory.mktemp("gpu") / "record"
    stdout = subprocess.run([str(SCRIPT), "--dry-run", "-o", str(out), "--threads", "1",
                             "--quiet"], capture_output=True, text=True, check=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1",
                                 "PYTHON": sys.executable}).stdout
    return out, json.loads((out / "gpu.json").read_text()), (out / "gpu.md").read_text(), stdout


def test_dry_run_writes_one_json_and_one_markdown(dry_run):
    out, _, _, stdout = dry_run
    assert sorted(path.name for path in out.iterdir()) == ["gpu.json", "gpu.md"]
    assert f"wrote {out / 'gpu.json'}" in stdout and f"wrote {out / 'gpu.md'}" in stdout


def test_dry_run_times_every_row_of_every_table(dry_run):
    _, result, _, _ = dry_run
    assert result["schema"] == "matt-bench-gpu/1" and result["run"]["dry_run"] is True
    assert list(result["tables"]) == ["batch1-32x32", "batch2-32x32", "batch1-40x40",
                                      "batch2-40x40"]
    for name, table in result["tables"].items():
        assert table["skipped"] == {}, (name, table["skipped"])
        assert list(table["rows"]) == list(ROWS)
        assert table["rounds"]["timed_done"] == DRY_RUN.iterations
        assert table["rounds"]["stopped_by_budget"] is False
        for label, row in table["rows"].items():
            assert row["n"] == DRY_RUN.iterations, (name, label)
            assert 0 < row["min_ms"] <= row["p25_ms"] <= row["median_ms"] <= row["p75_ms"] \
                <= row["max_ms"], (name, label, row)
            assert row["iqr_ms"] == pytest.approx(row["p75_ms"] - row["p25_ms"])
            assert row["images_per_s"] == pytest.approx(row["batch"] / row["median_ms"] * 1e3)
        assert all(value > 0 for value in table["figures"].values()), table["figures"]
        assert "pool 2 [0, 1]" in table["engines"]
    assert result["tables"]["batch1-40x40"]["rows"]["matt/K=2"]["patch"] == 10
    # The shipped classifier's dense head takes 32x32 only: at 40x40 a stand-in, said so.
    assert result["tables"]["batch1-32x32"]["classifier"] == "the subject's keras_cifar_cnn"
    assert "random-init resnet" in result["tables"]["batch2-40x40"]["classifier"]


def test_dry_run_records_the_machine_versions_command_and_revision(dry_run):
    _, result, markdown, _ = dry_run
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    assert result["run"]["git"]["revision"] == revision
    assert result["run"]["command_line"].startswith("python -m matt.bench.gpu --dry-run")
    machine = result["machine"]
    assert machine["torch"] and machine["cpu_model"] and "gpu" not in machine
    assert result["method"]["timer"].startswith("perf_counter")
    assert result["subject"]["pool_size"] == 2
    for text in (revision, result["run"]["command_line"], f"torch {machine['torch']}",
                 "## batch2-40x40", "| matt/K=2 |", "disco_k1_over_matt_k2", "## GPU tests"):
        assert text in markdown, text


def test_the_revision_comes_from_the_environment_where_git_cannot_say(monkeypatch, tmp_path):
    import matt.bench.machine
    from matt.bench.gpu.main import _git

    monkeypatch.setenv("MATT_GIT_REVISION", "abc123")
    assert _git(REPO)["revision"] != "abc123"  # a checkout: git's own answer wins
    monkeypatch.setattr(matt.bench.machine, "git_state",
                        lambda repo: {"revision": "unknown", "dirty": None})
    assert _git(tmp_path) == {"revision": "abc123", "dirty": None, "source": "MATT_GIT_REVISION"}


def test_dry_run_collects_the_gpu_tests_without_running_them(dry_run):
    _, result, _, _ = dry_run
    tests = result["gpu_tests"]
    assert tests["mode"] == "collect" and tests["exit_code"] == 0
    assert "tests/runtime/test_gpu.py" in tests["files"]
    assert "tests/runtime/test_gpu.py::test_torch_cuda_streams_give_the_cpu_result" \
        in tests["collected"]


def test_a_table_stops_when_its_share_of_the_budget_is_spent(tmp_path):
    spec = GpuSpec(device="cpu", sizes=(32,), batches=(1,), ks=(1,), disco_ks=(1,), warmup=1,
                   iterations=100_000, budget_s=8.0, tests="skip", threads=1)
    started = time.monotonic()
    paths = run(spec, tmp_path, "cut", "test", dry_run=False, quiet=True,
                started_at=started)
    wall = time.monotonic() - started
    table = json.loads(paths[0].read_text())["tables"]["batch1-32x32"]
    assert table["rounds"]["stopped_by_budget"] is True
    assert 0 < table["rounds"]["timed_done"] < 100_000
    assert table["rounds"]["note"].startswith("stopped by its share of the budget")
    assert table["wall_s"] <= table["share_s"] + 1.0 and wall < spec.budget_s + 3.0
    assert "stopped by its share" in paths[1].read_text()


def test_no_cuda_device_is_refused_in_one_line(tmp_path):
    out = tmp_path / "never"
    done = subprocess.run([str(SCRIPT), "-o", str(out)], capture_output=True, text=True,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable})
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no CUDA device"), done.stderr
    assert "--dry-run" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["--k", "0"], "error: gpu bench: ks must be distinct positive integers"),
    (["--device", "tpu"], "error: gpu bench: device must be cuda, cuda:N or cpu"),
    (["--budget", "0"], "error: gpu bench: the budget must be > 0 s"),
])
def test_bad_values_are_one_error_line(args, expected, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(err) == 1 and err[0].startswith(expected), err


@pytest.mark.parametrize("args", [["--size", "32,x"], ["--tests", "some"]])
def test_a_malformed_value_is_one_line_naming_the_option(args, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2
    assert len(err) == 1 and err[0].startswith(f"error: argument {args[0]}: "), err


def test_an_unknown_option_keeps_the_usage_line_and_the_help_hint(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--no-such-flag"], prog="matt-bench gpu")
    lines = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2
    assert lines[0].startswith("Usage: matt-bench gpu ")
    assert "Try 'matt-bench gpu -h' for help." in lines
    assert lines[-1] == "error: No such option '--no-such-flag'."


def test_matt_bench_gpu_forwards_its_options():
    from click.testing import CliRunner

    from matt.bench.cli import bench

    shown = CliRunner().invoke(bench, ["gpu", "-h"])
    assert shown.exit_code == 0 and shown.output.startswith("Usage: matt-bench gpu ")
    assert "--dry-run" in shown.output and "--budget" in shown.output


def test_lists_and_ranges():
    assert _int_list("1-4,8,12") == (1, 2, 3, 4, 8, 12)
    assert GpuSpec().ks == tuple(range(1, 13)) and GpuSpec().sizes == (32, 224)
    assert not DEFAULT_OUT.is_relative_to("benchmarks/results")
    with pytest.raises(SpecError):
        GpuSpec(ks=(1, 1))


def test_row_statistics_are_median_and_interquartile_range():
    stats = row_stats([5.0, 1.0, 4.0, 2.0, 3.0], [10.0, 20.0, 30.0, 40.0, 50.0])
    assert (stats["median_ms"], stats["p25_ms"], stats["p75_ms"], stats["iqr_ms"]) == \
        (3.0, 2.0, 4.0, 2.0)
    assert stats["n"] == 5 and stats["host_median_ms"] == 30.0


def test_budget_shares_what_is_left():
    budget = Budget(100.0, time.monotonic() - 40.0)
    assert 59.0 < budget.remaining() <= 60.0
    assert budget.share(2, reserve_s=10.0) == pytest.approx(25.0, abs=0.5)
    assert Budget(1.0, time.monotonic() - 5.0).share(3, reserve_s=0.0) == 0.0


def test_gpu_tests_not_run_without_pytest_say_so(monkeypatch):
    monkeypatch.setattr(gpu_tests.importlib.util, "find_spec", lambda name: None)
    record = gpu_tests.run_gpu_tests("run", REPO, 60.0)
    assert record == {"mode": "run", "ran": False,
                      "reason": "pytest is not installed: the gpu tests did not run"}


def test_the_child_is_killed_with_its_group_at_the_deadline(tmp_path):
    marker = tmp_path / "grandchild.pid"
    code = ("import os, subprocess, sys, time; "
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            f"open({str(marker)!r}, 'w').write(str(child.pid)); time.sleep(60)")
    started = time.monotonic()
    exit_code, _, _, timed_out = gpu_tests._run([sys.executable, "-c", code], tmp_path, 3.0)
    assert timed_out and exit_code is None and time.monotonic() - started < 10
    grandchild = int(marker.read_text())
    for _ in range(50):  # killed with its group: gone, or a zombie waiting for its reaper
        if not _alive(grandchild):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"process {grandchild} outlived the deadline")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_junit_outcomes_are_read_per_test(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite tests="3">'
        '<testcase classname="tests.runtime.test_gpu" name="test_a"/>'
        '<testcase classname="tests.runtime.test_gpu" name="test_b">'
        '<failure message="assert 1 == 2&#10;more">trace</failure></testcase>'
        '<testcase classname="tests.runtime.test_gpu" name="test_c">'
        '<skipped message="no TensorRT"/></testcase>'
        '</testsuite></testsuites>')
    assert gpu_tests._outcomes(junit) == {
        "tests.runtime.test_gpu::test_a": "passed",
        "tests.runtime.test_gpu::test_b": "failed: assert 1 == 2",
        "tests.runtime.test_gpu::test_c": "skipped: no TensorRT"}


def test_a_row_failing_mid_table_is_set_aside_and_the_others_go_on():
    from matt.bench.gpu.clock import Timer
    from matt.bench.gpu.tables import Row, time_table

    calls = {"count": 0}

    def flaky() -> None:
        calls["count"] += 1
        if calls["count"] == 3:
            raise RuntimeError("CUDA out of memory\nmore")

    rows = [Row("steady", lambda: lambda: None, {"batch": 1}),
            Row("flaky", lambda: flaky, {"batch": 1}),
            Row("broken", lambda: (_ for _ in ()).throw(ValueError("no build")), {"batch": 1})]
    spec = GpuSpec(device="cpu", warmup=1, iterations=4)
    table = time_table(rows, spec, Timer(cuda=False), time.monotonic() + 30, lambda _: None)
    assert list(table["rows"]) == ["steady"] and table["rows"]["steady"]["n"] == 4
    assert table["skipped"] == {"flaky": "failed in round 2: RuntimeError: CUDA out of memory",
                                "broken": "ValueError: no build"}


BLOCKER = '''import sys
BLOCKED = {"click", "onnx", "onnxruntime", "onnxscript", "tqdm", "PIL", "h5py", "tensorrt"}
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
sys.meta_path.insert(0, _Block())
'''


def test_the_script_needs_torch_and_numpy_only(tmp_path):
    """As on a lent machine with nothing else: every other library fails to import."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    out = tmp_path / "record"
    done = subprocess.run(
        [str(SCRIPT), "--dry-run", "--tests", "skip", "--size", "32", "--batch", "1", "--k", "1",
         "--disco-k", "1", "--warmup", "0", "--iterations", "1", "-q", "-o", str(out)],
        capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "PYTHON": sys.executable,
             "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    blocked = subprocess.run([sys.executable, "-c", "import click"], capture_output=True,
                             env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert blocked.returncode != 0  # the blocker was in force
    rows = json.loads((out / "gpu.json").read_text())["tables"]["batch1-32x32"]["rows"]
    assert set(rows) == {"classifier", "matt/K=1", "matt+classifier/K=1", "disco/K=1"}
