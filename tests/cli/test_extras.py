"""A missing optional library is one line naming the pip extra, exit 2, never a traceback, and
nothing half-written; ``-h`` still works without it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import click
import pytest

from matt.cli import extras
from matt.cli_common import MattCommand, run_cli
from tests.cli.conftest import run_command

ROOT = Path(__file__).parents[2]


def _one_line(run) -> str:
    assert run.code == 2, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    assert len(run.err_lines) == 1, run.stderr
    return run.err_lines[0]


def _hint(prog: str, extra: str) -> str:
    return f"error: {prog} needs the '{extra}' extra: pip install 'matt[{extra}]'"


@pytest.mark.parametrize(("prog", "args", "block", "extra"), [
    ("matt-eval", ("--bundle", "fmnist"), ("art",), "eval"),
    ("matt-eval", ("--bundle", "fmnist"), ("matplotlib",), "eval"),
    ("matt-bench", ("latency", "--quick"), ("matplotlib",), "bench"),
    ("matt-bench", ("tiling", "--quick"), ("foolbox",), "bench"),
    ("matt-serve", (), ("pytriton",), "serve"),
    ("matt-serve", (), ("tritonclient",), "serve"),
])
def test_a_command_checks_its_extra_before_any_work(tmp_path, prog, args, block, extra):
    out = tmp_path / "out"
    run = run_command(prog, *args, "-o" if prog != "matt-serve" else "--http-port",
                      str(out) if prog != "matt-serve" else "18000", block=block, cwd=tmp_path)
    assert _one_line(run) == _hint(prog, extra)
    assert not out.exists()


@pytest.mark.parametrize("prog", ["matt-eval", "matt-serve"])
def test_help_needs_no_extra(prog):
    run = run_command(prog, "-h", block=("art", "pytriton", "tritonclient", "matplotlib"))
    assert run.code == 0 and run.stdout.startswith(f"Usage: {prog}"), run.stderr


@pytest.fixture
def cifar_classifier(tmp_path) -> Path:
    from matt.models import ClassifierSpec, build_classifier
    from matt.training.artifacts import ClassifierFile

    spec = ClassifierSpec("resnet", num_classes=10, channels=3, width=4, blocks=1)
    return ClassifierFile("cifar10", (3, 32, 32), tuple(f"c{i}" for i in range(10)), spec,
                          build_classifier(spec).state_dict(), {}).save(tmp_path / "c.pt")


def test_train_on_cifar10_without_the_photo_libraries(tmp_path, cifar_classifier):
    run = run_command("matt-train", "pool", "--dataset", "cifar10", "--classifier",
                      cifar_classifier, "--run-dir", tmp_path / "run", "--train-count", "4",
                      "--eval-count", "2", block=("skimage", "sklearn"), cwd=tmp_path)
    assert _one_line(run) == _hint("matt-train", "eval")


def test_export_of_engines_without_tensorrt_names_the_gpu_extra(tmp_path):
    out = tmp_path / "bundles" / "b"
    run = run_command("matt-export", "fmnist", "--engine", "tensorrt", "-o", out,
                      block=("tensorrt",), cwd=tmp_path)
    assert "pip install 'matt[gpu]'" in _one_line(run)
    assert not out.parent.exists()


def test_extras_agree_with_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    distribution = {"art": "adversarial-robustness-toolbox", "foolbox": "foolbox",
                    "matplotlib": "matplotlib", "skimage": "scikit-image",
                    "sklearn": "scikit-learn", "pytriton": "nvidia-pytriton",
                    "tritonclient": "tritonclient", "tensorrt": "tensorrt",
                    "cuda": "cuda-python"}
    for extra, modules in extras.EXTRAS.items():
        names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in declared[extra]}
        for module in modules:
            assert distribution[module] in names, (extra, module, names)
    assert extras.extra_for("matplotlib", "matt-bench") == "bench"
    assert extras.extra_for("matplotlib", "matt-eval") == "eval"
    assert extras.extra_for("grpc._channel", "matt-eval") == "serve"
    assert extras.extra_for("torch") is None


def _toy(raises: BaseException | None = None, **needs) -> click.Command:
    @click.command("matt-toy", cls=MattCommand, **needs)
    @click.option("--write-repository", default=None)
    def toy(write_repository: str | None) -> None:
        if raises is not None:
            raise raises
        click.echo("ran")

    return toy


def _main(monkeypatch, capsys, command: click.Command, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.argv", ["matt-toy", *args])
    try:
        run_cli(command)
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_needs_unless_lets_a_run_that_needs_no_extra_through(monkeypatch, capsys):
    monkeypatch.setattr(extras, "installed", lambda module: module != "pytriton")
    toy = _toy(needs="serve", needs_unless="write_repository")
    assert _main(monkeypatch, capsys, toy, "--write-repository", "r")[:2] == (0, "ran\n")
    code, out, err = _main(monkeypatch, capsys, toy)
    assert (code, out) == (2, "")
    assert err == _hint("matt-toy", "serve") + "\n"


def test_an_import_that_fails_mid_run_names_the_extra(monkeypatch, capsys):
    missing = ModuleNotFoundError("No module named 'art'", name="art")
    code, _, err = _main(monkeypatch, capsys, _toy(missing))
    assert code == 2 and err == _hint("matt-toy", "eval") + "\n"


def test_an_unknown_library_is_named_in_one_line(monkeypatch, capsys):
    missing = ModuleNotFoundError("No module named 'zstandard'", name="zstandard")
    code, _, err = _main(monkeypatch, capsys, _toy(missing))
    assert code == 2 and err.startswith("error: matt-toy needs the Python module 'zstandard'")


def test_a_missing_module_of_matt_itself_is_a_bug_and_keeps_its_traceback(monkeypatch, capsys):
    with pytest.raises(ModuleNotFoundError):
        _main(monkeypatch, capsys, _toy(ModuleNotFoundError("gone", name="matt.nowhere")))
