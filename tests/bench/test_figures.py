"""The verdicts follow the measured ratios; a figure whose rows are missing says why."""

from __future__ import annotations

import pytest

from matt.bench.figures import (
    FLAT_IN_K,
    compute_diagnostics,
    compute_figures,
    verdict_counts,
)
from matt.bench.rows import label


def _row(median_ms: float, **info):
    return {"median_ms": median_ms, "p99_ms": median_ms * 1.2, **info}


def _table(batch: int, rows: dict, skipped: dict | None = None) -> dict:
    return {"name": f"batch{batch}-32x32", "batch": batch, "size": 32, "rows": rows,
            "skipped": skipped or {}}


def _by_id(figures, figure_id):
    return [f for f in figures if f["id"] == figure_id]


def test_flat_matt_passes_and_rising_matt_misses():
    flat = _table(1, {label("matt", "torch", "fp32", 1): _row(10.0),
                      label("matt", "torch", "fp32", 12): _row(10.0 * FLAT_IN_K * 0.99)})
    rising = _table(1, {label("matt", "torch", "fp32", 1): _row(10.0),
                        label("matt", "torch", "fp32", 12): _row(10.0 * FLAT_IN_K * 1.01)})
    assert _by_id(compute_figures({"a": flat}, (1, 12), None), "matt_flat_in_k")[0]["passed"]
    missed = _by_id(compute_figures({"a": rising}, (1, 12), None), "matt_flat_in_k")[0]
    assert missed["passed"] is False
    assert missed["value"] > FLAT_IN_K


def test_disco_figures_use_k1_of_the_official_formulation():
    rows = {
        label("disco-ensemble", "torch", "fp32", 1): _row(30.0),
        label("disco-ensemble", "torch", "fp32", 12): _row(160.0),
        label("liif-no-local-ensemble", "torch", "fp32", 1): _row(10.0),
        label("matt-disco-encoder", "torch", "fp32", 12): _row(15.0),
        label("matt", "onnxruntime", "fp32", 12): _row(1.0),
    }
    figures = compute_figures({"t": _table(1, rows)}, (1, 12), None)
    growth = _by_id(figures, "disco_grows_with_k")[0]
    assert growth["value"] == pytest.approx(160 / 30, rel=1e-3) and growth["passed"]
    assert _by_id(figures, "local_ensemble_factor")[0]["passed"] is False  # 3x < 4x
    assert _by_id(figures, "matt_disco_encoder_vs_disco")[0]["passed"] is False  # 2x < 4x
    assert _by_id(figures, "shipped_pool_vs_disco")[0]["passed"]  # 30x >= 20x


def test_missing_rows_are_not_measured_with_the_skip_reason():
    table = _table(64, {label("matt", "torch", "fp32", 12): _row(100.0)},
                   skipped={"*/onnxruntime": "onnxruntime is not installed"})
    figures = compute_figures({"t": table}, (1, 12), None)
    ort = _by_id(figures, "onnxruntime_vs_torch")[0]
    assert ort["passed"] is None
    assert "onnxruntime is not installed" in ort["note"]
    assert verdict_counts(figures)["not_measured"] >= 1


def test_int8_passes_only_with_speed_and_accuracy():
    rows = {label("matt", "onnxruntime", "fp32", 12): _row(30.0),
            label("matt", "onnxruntime", "int8", 12): _row(10.0)}
    table = {"t": _table(64, rows)}
    accurate = {"measured": True, "loss_points": 0.4}
    inaccurate = {"measured": True, "loss_points": 2.5}
    assert _by_id(compute_figures(table, (1, 12), accurate), "int8_vs_fp32")[0]["passed"]
    lossy = _by_id(compute_figures(table, (1, 12), inaccurate), "int8_vs_fp32")[0]
    assert lossy["passed"] is False and lossy["speed_passed"] is True
    unjudged = _by_id(compute_figures(table, (1, 12), None), "int8_vs_fp32")[0]
    assert unjudged["passed"] is None and unjudged["speed_passed"] is True


@pytest.mark.parametrize("achieved, passes", [(30.0, False), (45.0, True)])
def test_roofline_compares_with_the_best_sgemm(achieved, passes):
    rows = {
        label("matt", "onnxruntime", "fp32", 12): _row(1.0, achieved_gflops=achieved),
        label("sgemm", "numpy", "fp32"): _row(1.0, family="sgemm", achieved_gflops=50.0),
        label("sgemm", "torch", "fp32"): _row(1.0, family="sgemm", achieved_gflops=100.0),
    }
    figure = _by_id(compute_figures({"t": _table(64, rows)}, (1, 12), None), "roofline")[0]
    assert figure["peak_gflops"] == 100.0
    assert figure["value"] == pytest.approx(achieved / 100.0)
    assert figure["passed"] is passes  # the threshold is ROOFLINE_SHARE of the best peak


def test_a_mixed_pool_says_how_much_of_the_ratio_is_architecture():
    table = _table(1, {
        label("matt", "torch", "fp32", 1): _row(10.0, k=1, macs_per_pixel=1000.0),
        label("matt", "torch", "fp32", 12): _row(15.0, k=12, macs_per_pixel=1500.0),
    })
    figure = _by_id(compute_figures({"t": table}, (1, 12), None), "matt_flat_in_k")[0]
    assert figure["passed"] is False  # the verdict stays on the raw ratio
    assert figure["mean_macs_ratio"] == pytest.approx(1.5)
    assert figure["per_mac_latency_ratio"] == pytest.approx(1.0)
    assert "MACs per pixel" in figure["note"]


def test_pool_size_alone_compares_pools_of_the_same_architecture_mix():
    def matt(k, ms, macs):
        return label("matt", "torch", "fp32", k), _row(ms, macs_per_pixel=macs, k=k)

    rows = dict([matt(1, 10.0, 60_000), matt(2, 10.0, 60_000), matt(4, 14.0, 78_000),
                 matt(8, 14.5, 78_100), matt(12, 15.0, 78_000)])
    found = _by_id(compute_diagnostics({"t": _table(1, rows)}, (1, 2, 4, 8, 12)),
                   "flat_same_mix")
    assert len(found) == 1 and "K=4" in found[0]["title"]
    assert found[0]["value"] == pytest.approx(15 / 14, rel=1e-3)
    rows = dict([matt(1, 10.0, 60_000), matt(12, 15.0, 78_000)])  # no pool of the same mix
    assert not _by_id(compute_diagnostics({"t": _table(1, rows)}, (1, 12)), "flat_same_mix")
