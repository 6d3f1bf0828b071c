"""``matt-eval`` refuses bad input with one line on stderr and a non-zero exit."""

from __future__ import annotations

import sys

import pytest

from matt.attacks.registry import build_attack
from matt.evaluation.cli import attack_specs, main, parse_budgets


def _run(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["matt-eval", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    return stopped.value.code, capsys.readouterr().err


@pytest.mark.parametrize(("args", "says"), [
    (("--budgets", "abc"), "--budgets must be"),
    (("--budgets", "0,100"), "--budgets must be"),
    (("--attacks", "pgd"), "unknown attack 'pgd'"),
    (("--defenses", "none,jpeg2000"), "unknown defense 'jpeg2000'"),
    (("--defenses", "remote"), "--url"),
    (("--profile", "huge"), "huge"),
    (("--bundle", "/nonexistent/weights.pt"), "neither"),
    (("--n-images", "0"), "n_images must be >= 1"),
    (("--threads", "0"), "--threads must be >= 1"),
    (("--time-limit", "-3"), "--time-limit"),
    (("--k-images", "-1"), "--k-images must be >= 0"),
    (("--attacks", "p_init=0.05,square"), "no attack before it"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(monkeypatch, capsys, tmp_path, args, says):
    code, err = _run(monkeypatch, capsys, "-o", str(tmp_path / "out"), *args)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0]
    assert not (tmp_path / "out").exists()


def test_budgets_parse_sorted():
    assert parse_budgets("2500,200,1000") == (200, 1000, 2500)
    assert parse_budgets(None) is None


def test_an_override_after_a_comma_continues_the_previous_attack():
    specs = attack_specs("eot-square:p_init=0.05,eot_samples=10,nes,square:p_init=0.3")
    assert specs == ("eot-square:p_init=0.05,eot_samples=10", "nes", "square:p_init=0.3")
    attack = build_attack(specs[0], "fmnist")
    assert (attack.p_init, attack.eot_samples) == (0.05, 10)
    assert attack_specs(None) is None


def test_a_committed_record_is_not_overwritten_by_another_run(monkeypatch, capsys, tmp_path):
    """A folder with results.json is rewritten only by a resume of its own checkpoints."""
    import json

    from matt.errors import InputError
    from matt.evaluation.checkpoint import check_record_folder

    record = tmp_path / "record"
    record.mkdir()
    command = f"matt-eval --bundle fmnist -o {record} --checkpoints {record}/checkpoints"
    (record / "results.json").write_text(json.dumps({"command": command}))
    before = (record / "results.json").read_text()
    code, err = _run(monkeypatch, capsys, "--bundle", "fmnist", "-o", str(record))
    assert code == 2 and err.startswith("error: -o ") and "another run's record" in err
    assert f"--checkpoints {record}/checkpoints" in err and len(err.strip().splitlines()) == 1
    assert (record / "results.json").read_text() == before
    check_record_folder(record, record / "checkpoints")  # the same checkpoints: a resume
    check_record_folder(record, tmp_path / "elsewhere", overwrite=True)
    (record / "results.json").write_text(json.dumps({"checkpoints": str(tmp_path / "c")}))
    check_record_folder(record, tmp_path / "c")  # the field wins over the command line
    with pytest.raises(InputError, match="another run's record"):
        check_record_folder(record, record / "checkpoints")
    check_record_folder(tmp_path / "new", tmp_path / "any")  # no record yet: nothing to guard
