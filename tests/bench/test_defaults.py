"""``matt-bench`` defaults a user meets first: output under runs/bench (never over the committed
records), ``--quick``, the table on stdout, and a ``--bundle`` timed at its own size only."""

from __future__ import annotations

import json

import pytest

from matt.bench import cli
from tests.conftest import run_cli

TINY = ["--k", "1,2", "--iterations", "2", "--warmup", "1", "--quiet", "--accuracy-images", "0",
        "--threads", "1", "--backend", "torch,onnxruntime", "--precision", "fp32",
        "--family", "classifier,matt"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A random-init 16x16 weights file with two members and its exported bundle."""
    from matt.export import ExportOptions, export_bundle
    from matt.training.weights import save_weights
    from tests.conftest import make_weights

    root = tmp_path_factory.mktemp("subject")
    weights = save_weights(make_weights(size=16, pool_size=2), root / "weights16.pt")
    bundle = export_bundle(weights, root / "bundle16", options=ExportOptions(check_images=4))
    return weights, bundle


def _main(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    return run_cli(monkeypatch, capsys, "matt-bench", cli.main, *args)


def test_the_default_output_is_runs_bench_and_never_the_committed_records(
        small, tmp_path, monkeypatch, capsys):
    weights, _ = small
    monkeypatch.chdir(tmp_path)
    code, out, err = _main(monkeypatch, capsys, "latency", *TINY, "--size", "16",
                           "--weights", weights)
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "runs" / "bench").iterdir())
    assert written == ["latency-weights16-ms-vs-k.png", "latency-weights16.json",
                       "latency-weights16.md"]
    assert not (tmp_path / "benchmarks").exists()
    # the table itself is on stdout, not only where it was written
    assert "| matt/onnxruntime-fp32/K=2 |" in out and "| row | median ms |" in out


def test_quick_is_a_small_preset_that_options_still_override(monkeypatch, capsys):
    seen = {}

    def fake_run(spec, weights, bundle, progress, argv):
        seen["spec"] = spec
        raise SystemExit(0)

    monkeypatch.setattr("matt.bench.run.run_benchmark", fake_run)
    _main(monkeypatch, capsys, "all", "--quick")
    spec = seen["spec"]
    assert spec.ks == (1, 2) and spec.tables == ((1, 32), (8, 32))
    assert spec.iterations <= 20 and spec.table_budget_s <= 5 and spec.accuracy_images == 0
    assert spec.precisions == ("fp32",) and "disco-ensemble" in spec.row_families
    _main(monkeypatch, capsys, "latency", "--quick", "--k", "1,12", "--iterations", "7")
    assert seen["spec"].ks == (1, 12) and seen["spec"].iterations == 7
    _main(monkeypatch, capsys, "latency")
    full = seen["spec"]
    assert full.iterations == 900 and full.tables == ((1, 32), (1, 224))
    assert full.accuracy_images == 1000 and full.precisions == ("fp32", "fp16", "int8")


def test_quick_runs_end_to_end(small, tmp_path, monkeypatch, capsys):
    weights, _ = small
    code, _out, err = _main(monkeypatch, capsys, "latency", "--quick", "--size", "16",
                           "--weights", weights, "--threads", "1", "--quiet", "-o", tmp_path)
    assert code == 0, err
    result = json.loads((tmp_path / "latency-weights16.json").read_text())
    table = result["tables"]["batch1-16x16"]
    assert {"matt/torch-fp32/K=1", "matt/torch-fp32/K=2", "disco-ensemble/torch-fp32/K=2"} \
        <= set(table["rows"])
    assert result["run"]["spec"]["iterations"] == 20


def test_a_bundle_is_timed_at_its_own_size_and_named_in_the_report(
        small, tmp_path, monkeypatch, capsys):
    weights, bundle = small
    code, out, err = _main(monkeypatch, capsys, "latency", *TINY, "--bundle", bundle,
                           "--weights", weights, "-o", tmp_path)
    assert code == 0, err
    result = json.loads((tmp_path / "latency-bundle16.json").read_text())
    assert list(result["tables"]) == ["batch1-16x16"]  # not 32 and 224 as without --bundle
    rows = result["tables"]["batch1-16x16"]["rows"]
    assert "matt/onnxruntime-fp32/K=2" in rows and "classifier/onnxruntime-fp32" in rows
    assert result["subject"]["bundle"] == str(bundle)
    assert f"subject: bundle {bundle}" in (tmp_path / "latency-bundle16.md").read_text()
    assert out.startswith(f"matt-bench latency: bundle {bundle}")


@pytest.mark.parametrize("case", ["other size", "no weights", "other weights"])
def test_a_bundle_that_cannot_be_timed_as_asked_is_one_line(small, tmp_path, monkeypatch,
                                                            capsys, case):
    weights, bundle = small
    args = {"other size": ("--size", "32", "--weights", weights),
            "no weights": (),
            "other weights": ("--weights", "cifar10")}[case]
    code, _out, err = _main(monkeypatch, capsys, "latency", *TINY, "--bundle", bundle, *args,
                           "-o", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert {"other size": "takes 16x16 images; --size 32 cannot be timed on it",
            "no weights": "which is not shipped; pass that file with --weights",
            "other weights": "is not what --bundle"}[case] in err
    assert not (tmp_path / "out").exists()
