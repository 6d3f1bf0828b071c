"""One convention for the five commands: ``-h``/``--help``, ``--version``, click's usage line
on a usage error, and a wrong value as one line."""

from __future__ import annotations

import importlib.metadata

import pytest

from tests.cli.conftest import COMMANDS, run_command

SUBCOMMANDS = {"matt-train": ("classifier", "pool", "bundle"), "matt-bench": ("latency", "tiling")}


@pytest.mark.parametrize("prog", COMMANDS)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_short_and_long_help(prog, flag):
    run = run_command(prog, flag)
    assert run.code == 0, run.stderr
    assert run.stdout.startswith(f"Usage: {prog} "), run.stdout
    assert "-h, --help" in run.stdout and "--version" in run.stdout
    assert run.stderr == ""


@pytest.mark.parametrize(("prog", "sub"), [(p, s) for p, subs in SUBCOMMANDS.items()
                                          for s in subs])
def test_subcommands_take_dash_h(prog, sub):
    run = run_command(prog, sub, "-h")
    assert run.code == 0, run.stderr
    assert run.stdout.startswith(f"Usage: {prog} {sub} [OPTIONS]")


@pytest.mark.parametrize("prog", COMMANDS)
def test_version_is_the_package_version(prog):
    run = run_command(prog, "--version")
    assert run.code == 0, run.stderr
    assert run.stdout == f"{prog} {importlib.metadata.version('matt')}\n"


@pytest.mark.parametrize("prog", COMMANDS)
def test_an_unknown_option_keeps_the_usage_line_and_the_help_hint(prog):
    run = run_command(prog, "--no-such-flag")
    assert run.code == 2
    lines = run.err_lines
    assert lines[0].startswith(f"Usage: {prog} "), run.stderr
    assert lines[1] == f"Try '{prog} -h' for help."
    assert lines[-1] == "error: No such option '--no-such-flag'."
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(("args", "usage", "error"), [
    (("matt-train", "classifier"), "Usage: matt-train classifier [OPTIONS]",
     "error: Missing option '--run-dir'."),
    (("matt-export",), "Usage: matt-export [OPTIONS] WEIGHTS",
     "error: Missing argument 'WEIGHTS'."),
    (("matt-bench", "--quick"), "Usage: matt-bench [OPTIONS] COMMAND [ARGS]...",
     "error: No such option '--quick'."),
])
def test_a_missing_option_or_argument_keeps_the_usage_line(args, usage, error):
    run = run_command(*args)
    assert run.code == 2
    assert run.err_lines[0] == usage and run.err_lines[-1] == error, run.stderr
    command_path = usage.removeprefix("Usage: ").split(" [")[0]
    assert f"Try '{command_path} -h' for help." in run.err_lines


@pytest.mark.parametrize(("args", "needle"), [
    (("matt-bench", "latency", "--k", "0"), "--k"),
    (("matt-train", "pool", "--dataset", "svhn"), "--dataset"),
    (("matt-eval", "--threads", "x"), "--threads"),
])
def test_a_wrong_value_is_one_line_naming_the_option(args, needle):
    run = run_command(*args)
    assert run.code == 2
    assert len(run.err_lines) == 1 and run.err_lines[0].startswith("error: "), run.stderr
    assert needle in run.err_lines[0]


@pytest.mark.parametrize(("prog", "args"), [
    ("matt-train", ("classifier", "--threads", "0", "--run-dir", "r")),
    ("matt-eval", ("--seed", "-1")),
    ("matt-bench", ("latency", "--threads", "0")),
    ("matt-serve", ("--threads", "-1")),
])
def test_shared_options_are_checked_alike(prog, args):
    run = run_command(prog, *args)
    assert run.code == 2 and len(run.err_lines) == 1, run.stderr
    assert "is not in the range" in run.err_lines[0]


@pytest.mark.parametrize("prog", ["matt-train", "matt-bench"])
def test_a_bare_group_shows_its_help(prog):
    run = run_command(prog)
    assert run.code == 2
    assert run.stderr.startswith(f"Usage: {prog} [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in run.stderr and "error:" not in run.stderr
