"""Bad input to ``matt-export``: one ``error:`` line, exit code 2, no traceback, nothing written."""

import subprocess
import sys
import types

import pytest
import torch

from matt.errors import ExportError
from matt.export import export_bundle
from matt.export.options import ExportOptions
from tests.export.conftest import invoke_cli


def assert_refused(run, out_dir, *needles: str) -> None:
    assert run.exit_code == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out_dir.exists()
    assert not out_dir.parent.exists(), "the export created folders it did not fill"


@pytest.fixture
def out_dir(tmp_path):
    """An output folder whose parent does not exist yet."""
    return tmp_path / "out" / "bundle"


def test_missing_weights_file(tmp_path, out_dir):
    assert_refused(invoke_cli(tmp_path / "nope.pt", "-o", out_dir), out_dir, "no such weights")


def test_unknown_shipped_name(out_dir):
    assert_refused(invoke_cli("cifar99", "-o", out_dir), out_dir, "cifar99", "shipped")


@pytest.mark.parametrize("payload", ["text", "foreign-torch"])
def test_not_a_weights_file(tmp_path, out_dir, payload):
    path = tmp_path / "model.pt"
    if payload == "text":
        path.write_text("hello, not a model\n")
    else:
        torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    assert_refused(invoke_cli(path, "-o", out_dir), out_dir, str(path))


@pytest.mark.parametrize("sidecar", [True, False])
def test_truncated_weights_file(random_weights, tmp_path, out_dir, sidecar):
    path = tmp_path / "weights.pt"
    path.write_bytes(random_weights.read_bytes()[:-2000])
    if sidecar:
        (tmp_path / "weights.pt.sha256").write_text(
            (random_weights.parent / "weights.pt.sha256").read_text())
    assert_refused(invoke_cli(path, "-o", out_dir), out_dir, str(path))


def test_tampered_weights_file(random_weights, tmp_path, out_dir):
    path = tmp_path / "weights.pt"
    data = bytearray(random_weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    (tmp_path / "weights.pt.sha256").write_text(
        (random_weights.parent / "weights.pt.sha256").read_text())
    assert_refused(invoke_cli(path, "-o", out_dir), out_dir, "sha256")


@pytest.mark.parametrize(("args", "needle"), [
    (["--precision", "fp8"], "--precision"),
    (["--engine", "onnx"], "--engine"),
    (["--precision", "fp16"], "--engine tensorrt"),
    (["--opset", "9"], "opset"),
    (["--pool", "p0,p9"], "p9"),
    (["--precision", "int8", "--calibration", "/no/such/folder"], "--calibration"),
    (["--max-images", "4", "--opt-images", "8"], "opt-images"),
])
def test_bad_options(random_weights, out_dir, args, needle):
    assert_refused(invoke_cli(random_weights, "-o", out_dir, *args), out_dir, needle)


def test_tensorrt_without_tensorrt_installed(random_weights, out_dir):
    if importable("tensorrt"):
        pytest.skip("TensorRT is installed here; the GPU tests cover it")
    run = invoke_cli(random_weights, "-o", out_dir, "--engine", "tensorrt")
    assert_refused(run, out_dir, "TensorRT is not installed")


def test_tensorrt_without_gpu(random_weights, out_dir, monkeypatch):
    """TensorRT importable (a stand-in module) but no CUDA device: refused before any work."""
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present; this checks the machine without one")
    from matt.export import tensorrt as trt_export

    flags = types.SimpleNamespace(FP16=1, INT8=2)
    monkeypatch.setitem(sys.modules, "tensorrt",
                        types.SimpleNamespace(__version__="10.9.0", BuilderFlag=flags))
    monkeypatch.setattr(trt_export, "_gpu", lambda: None)
    run = invoke_cli(random_weights, "-o", out_dir, "--engine", "tensorrt", "--precision", "fp16")
    assert_refused(run, out_dir, "need a CUDA GPU")


def test_old_tensorrt_is_refused(random_weights, out_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="8.6.1"))
    run = invoke_cli(random_weights, "-o", out_dir, "--engine", "tensorrt")
    assert_refused(run, out_dir, "8.6.1", "too old")


def test_existing_output_without_force(random_weights, tmp_path):
    existing = tmp_path / "bundle"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    run = invoke_cli(random_weights, "-o", existing)
    assert run.exit_code == 2 and run.stderr.startswith("error: ") and "--force" in run.stderr
    assert (existing / "keep.txt").read_text() == "mine"
    run = invoke_cli(random_weights, "-o", existing, "--force")
    assert run.exit_code == 2 and "not a bundle" in run.stderr
    assert (existing / "keep.txt").read_text() == "mine"


def test_parity_failure_leaves_nothing(random_weights, out_dir):
    options = ExportOptions(members=("p0",), tolerance=1e-12, check_images=4)
    with pytest.raises(ExportError, match="differs from torch"):
        export_bundle(random_weights, out_dir, options=options)
    assert not out_dir.exists() and not out_dir.parent.exists()


def test_console_script_prints_one_line(tmp_path):
    code = "from matt.export.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "nope.pt")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.pt'}: no such "
                                                  "weights file"]


def importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_terminated_export_removes_its_staging_folder(random_weights, tmp_path):
    """SIGTERM mid-export: exit 130, one line, and no staging folder or bundle left."""
    import signal
    import time

    out_dir = tmp_path / "out" / "bundle"
    code = "from matt.export.cli import main; main()"
    process = subprocess.Popen([sys.executable, "-c", code, str(random_weights), "-o",
                                str(out_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if out_dir.parent.is_dir() and any(out_dir.parent.iterdir()):
            break
        time.sleep(0.05)
    assert process.poll() is None, "the export ended before it could be interrupted"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] in ("error: aborted", "error: interrupted")
    assert not out_dir.parent.exists()
