"""``matt-bench fused`` end to end with tiny counts: the record, its ratios and its rule."""

from __future__ import annotations

import json
import sys

import pytest

from matt.bench.cli import main
from matt.bench.fused import FUSED, PER_MEMBER, FusedSpec, choose_rule
from matt.errors import SpecError


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    """A random-init 16×16 bundle with three members and its fused fp32 graph."""
    from matt.export import export_bundle
    from matt.export.options import ExportOptions
    from matt.training.weights import save_weights
    from tests.conftest import make_weights

    root = tmp_path_factory.mktemp("fused-bench")
    weights = save_weights(make_weights(size=16, pool_size=3), root / "weights.pt")
    return export_bundle(weights, root / "small", options=ExportOptions(check_images=4))


def _run(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["matt-bench", "fused", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as stopped:
        code = stopped.code if isinstance(stopped.code, int) else 0
    return code, capsys.readouterr()


def test_fused_bench_writes_the_record_with_ratios_and_rule(small_bundle, tmp_path,
                                                            monkeypatch, capsys):
    out = tmp_path / "results"
    code, captured = _run(monkeypatch, capsys, "--bundle", small_bundle, "--batch", "1,4",
                          "--precision", "fp32,int8", "--iterations", "3", "--warmup", "1",
                          "--threads", "1", "--quiet", "-o", out)
    assert code == 0, captured.err
    result = json.loads((out / "fused-small.json").read_text())
    assert [(t["precision"], t["batch"]) for t in result["tables"]] == [("fp32", 1), ("fp32", 4)]
    assert "int8" in result["skipped"]  # the bundle has no INT8 graphs: said, not hidden
    for table in result["tables"]:
        rows = table["rows"]
        assert {PER_MEMBER, FUSED, "member/0", "member/1", "member/2"} <= set(rows)
        assert "fused graph at every batch" in rows[FUSED]["describe"]
        assert "fused" not in rows[PER_MEMBER]["describe"]
        ratios = table["ratios"]
        assert ratios["fused_over_per_member_wall"] == pytest.approx(
            rows[FUSED]["median_ms"] / rows[PER_MEMBER]["median_ms"])
        assert ratios["faster"] in (FUSED, PER_MEMBER)
    assert set(result["rule_fused_up_to"]) == {"fp32"}
    markdown = (out / "fused-small.md").read_text()
    assert "matt-bench fused" in markdown and "load average" in markdown
    code, captured = _run(monkeypatch, capsys, "--bundle", small_bundle, "--batch", "1",
                          "--iterations", "1", "--quiet", "-o", out)
    assert code == 2 and "records are never overwritten" in captured.err


def test_the_rule_is_the_largest_batch_below_which_fused_always_won():
    def table(batch, faster, precision="fp32"):
        return {"precision": precision, "batch": batch, "ratios": {"faster": faster}}

    tables = [table(1, FUSED), table(16, FUSED), table(64, PER_MEMBER),
              table(1, PER_MEMBER, "int8"), table(16, FUSED, "int8")]
    assert choose_rule(tables) == {"fp32": 16, "int8": 0}


def test_a_bad_spec_is_refused():
    with pytest.raises(SpecError, match="precisions"):
        FusedSpec(precisions=("fp16",))
    with pytest.raises(SpecError, match="batches"):
        FusedSpec(batches=(0,))


def test_a_loaded_machine_is_judged_on_cpu_time():
    from matt.bench.fused import _ratios, choice_basis

    assert choice_basis(1.9) == "cpu" and choice_basis(0.1) == "wall"
    assert choice_basis(None) == "wall"
    rows = {PER_MEMBER: {"median_ms": 5.0, "cpu_median_ms": 2.0},
            FUSED: {"median_ms": 9.0, "cpu_median_ms": 1.5}}
    assert _ratios(rows, 2, "cpu")["faster"] == FUSED
    assert _ratios(rows, 2, "wall")["faster"] == PER_MEMBER
