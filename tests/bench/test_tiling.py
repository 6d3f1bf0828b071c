"""``matt-bench tiling``: the sweep's properties on a tiny random-init pool, the command end to
end on a tiny Fashion-MNIST folder, and its errors (one line, non-zero exit, nothing written)."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from matt.bench.cli import main
from matt.bench.tiling import TilingSpec, measure_tiling
from matt.errors import InputError, SpecError
from tests.conftest import make_weights

ROW_KEYS = {"patch", "halo", "exact", "default", "windows_per_image", "window", "pixel_ratio",
            "relative_pixels", "purify_s", "purify_ms_per_image", "relative_cost",
            "timed_passes", "max_abs_diff", "mean_abs_diff", "share_over_grey_level",
            "accuracy", "images", "accuracy_interval", "macs_per_image_pixel"}


@pytest.fixture(scope="module")
def sweep():
    """Halos 0 … radius + 2 at patches 8 and 6 (6 does not divide 16) on 16×16 images."""
    weights = make_weights(size=16, pool_size=2)
    radius = weights.receptive_radius
    rng = np.random.default_rng(0)
    images = rng.random((6, 3, 16, 16), dtype=np.float32)
    labels = rng.integers(0, 10, 6)
    spec = TilingSpec(halos=(0, 1, radius - 1, radius + 2), patches=(6, 8), images=6,
                      batch=4, timed_rounds=1)
    return weights, radius, measure_tiling(weights, images, labels, spec)


def _row(rows, patch, halo):
    return next(r for r in rows if (r["patch"], r["halo"]) == (patch, halo))


def test_every_patch_gets_every_halo_plus_the_exact_one(sweep):
    weights, radius, rows = sweep
    for patch in (6, 8):
        halos = [r["halo"] for r in rows if r["patch"] == patch]
        assert halos == sorted({0, 1, radius - 1, radius + 2, radius, weights.tiling.halo})
        assert [r["halo"] for r in rows if r["patch"] == patch and r["exact"]] == [radius]
    assert all(set(row) == ROW_KEYS for row in rows)


def test_a_halo_of_at_least_the_receptive_radius_changes_nothing(sweep):
    _, radius, rows = sweep
    for patch in (6, 8):
        for halo in (radius, radius + 2):
            assert _row(rows, patch, halo)["max_abs_diff"] <= 1e-5


def test_a_smaller_halo_changes_more(sweep):
    _, radius, rows = sweep
    for patch in (6, 8):
        at_zero, below_radius = _row(rows, patch, 0), _row(rows, patch, radius - 1)
        assert at_zero["mean_abs_diff"] > below_radius["mean_abs_diff"]
        assert at_zero["max_abs_diff"] > _row(rows, patch, radius)["max_abs_diff"]
        assert 0 <= at_zero["mean_abs_diff"] <= at_zero["max_abs_diff"] <= 1
        assert 0 <= at_zero["share_over_grey_level"] <= 1


def test_the_pixel_ratio_is_the_windows_area_over_the_image_area(sweep):
    _, radius, rows = sweep
    for row in rows:
        per_side = math.ceil(16 / row["patch"])
        window = row["patch"] + 2 * row["halo"]
        assert row["windows_per_image"] == per_side ** 2
        assert row["window"] == [window, window]
        assert row["pixel_ratio"] == pytest.approx(per_side ** 2 * window ** 2 / 16 ** 2)
        exact_window = row["patch"] + 2 * radius
        assert row["relative_pixels"] == pytest.approx(window ** 2 / exact_window ** 2)


def test_cost_and_accuracy_are_measured(sweep):
    _, _, rows = sweep
    for row in rows:
        assert row["purify_s"] > 0 and row["relative_cost"] > 0
        if row["exact"]:
            assert row["relative_cost"] == 1.0
        assert 0 <= row["accuracy"] <= 1 and row["images"] == 6
    assert sum(row["default"] for row in rows) == 1
    default = next(row for row in rows if row["default"])
    assert (default["patch"], default["halo"]) == (
        8, make_weights(size=16, pool_size=2).receptive_radius)


def test_images_of_another_shape_are_refused():
    weights = make_weights(size=16, pool_size=2)
    with pytest.raises(InputError, match="pass --data-dir"):
        measure_tiling(weights, np.zeros((2, 3, 32, 32), np.float32), np.zeros(2, np.int64),
                       TilingSpec(timed_rounds=1))


@pytest.mark.parametrize("settings", [{"halos": (-1,)}, {"halos": ()}, {"patches": (0,)},
                                      {"images": 0}, {"threads": 0}])
def test_the_spec_refuses_bad_values(settings):
    with pytest.raises(SpecError):
        TilingSpec(**settings)


@pytest.fixture
def fmnist_case(tmp_path):
    """A 4-image Fashion-MNIST test split and random-init 28×28 grey weights."""
    from matt.training.weights import save_weights
    from tests.data.test_fashion_mnist import write_split

    data_dir = tmp_path / "fmnist"
    data_dir.mkdir()
    rng = np.random.default_rng(0)
    write_split(data_dir, "t10k", rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
                np.arange(4) % 10)
    weights = make_weights(channels=1, size=28, pool_size=2, dataset="fmnist")
    return save_weights(weights, tmp_path / "fmnist.pt"), data_dir


def _run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["matt-bench", *args])
    code = 0
    try:
        main()
    except SystemExit as stopped:
        code = stopped.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_command_writes_json_markdown_and_png(tmp_path, fmnist_case, monkeypatch, capsys):
    weights_path, data_dir = fmnist_case
    out = tmp_path / "results"
    code, printed, _ = _run_main(
        monkeypatch, capsys, "tiling", "--weights", str(weights_path), "--data-dir",
        str(data_dir), "--images", "4", "--halos", "0,2", "--patches", "8,14", "--threads", "1",
        "--quiet", "-o", str(out))
    assert code == 0
    result = json.loads((out / "tiling-fmnist.json").read_text())
    assert result["schema"] == "matt-bench-tiling/1"
    assert {"run", "machine", "subject", "images", "method", "rows",
            "smallest_halo"} <= set(result)
    assert result["run"]["command_line"].startswith("matt-bench tiling")
    assert result["run"]["git"]["revision"] and result["machine"]["cpu_model"]
    subject = result["subject"]
    assert len(subject["sha256"]) == 64 and subject["dataset"] == "fmnist"
    assert subject["default_tiling"] == {"patch": 8, "halo": subject["receptive_radius"]}
    assert result["images"]["count"] == 4
    assert {(r["patch"], r["halo"]) for r in result["rows"]} == {
        (p, h) for p in (8, 14) for h in (0, 2, subject["receptive_radius"])}
    assert all(set(row) == ROW_KEYS for row in result["rows"])
    assert [r["patch"] for r in result["rows"] if r["default"]] == [8]
    assert "| halo |" in (out / "tiling-fmnist.md").read_text()
    assert result["choice"]["bound"] == 1e-3 and result["frontier"]
    assert "The plan chosen by measurement" in (out / "tiling-fmnist.md").read_text()
    assert (out / "tiling-fmnist.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*")), "a temporary file was left behind"
    assert "wrote" in printed


@pytest.mark.parametrize("args, needle", [
    (["--weights", "nosuch"], "no shipped weights named"),
    (["--weights", "/no/such/weights.pt"], "no such weights file"),
    (["--halos=-1"], "--halos"),
    (["--halos", "0,x"], "--halos"),
    (["--patches", "0"], "--patches"),
    (["--patches", "29"], "larger than the 28x28 image"),
    (["--images", "0"], "--images"),
    (["--bound", "0"], "--bound"),
])
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, fmnist_case, monkeypatch,
                                                     capsys, args, needle):
    weights_path, data_dir = fmnist_case
    out = tmp_path / "results"
    given = ["--weights", str(weights_path), "--data-dir", str(data_dir), "--threads", "1",
             "--quiet", "-o", str(out), *args]
    code, _, err = _run_main(monkeypatch, capsys, "tiling", *given)
    assert code != 0
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert needle in err
    assert not out.exists()


def test_the_accuracy_interval_holds_the_accuracy_and_narrows_with_images():
    from matt.bench.tiling import wilson_interval

    low, high = wilson_interval(19, 20)
    assert low < 0.95 < high <= 1.0
    wide, narrow = wilson_interval(10, 20), wilson_interval(500, 1000)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("images", [1, 4, 7, 20, 1000])
def test_a_rate_of_zero_or_one_lies_inside_its_own_interval(images):
    """With 4 images all right the upper end once computed to 1 - 1e-16, and the tiling rule
    judged every row outside the exact tiling's interval ("no row passes")."""
    from matt.bench.tiling import choose_plan, wilson_interval

    assert wilson_interval(images, images)[1] == 1.0 and wilson_interval(0, images)[0] == 0.0
    interval = list(wilson_interval(images, images))
    rows = [{**_plan_row(32, 7, 100.0, 0.0, 1.0, exact=True), "accuracy_interval": interval},
            {**_plan_row(32, 0, 50.0, 2e-4, 1.0), "accuracy_interval": interval}]
    assert choose_plan(rows, 1e-3)["chosen"]["halo"] == 0


def _plan_row(patch, halo, macs, diff, accuracy, exact=False):
    return {"patch": patch, "halo": halo, "exact": exact, "macs_per_image_pixel": macs,
            "purify_ms_per_image": macs / 1e3, "mean_abs_diff": diff, "max_abs_diff": diff,
            "accuracy": accuracy, "accuracy_interval": [accuracy - 0.02, accuracy + 0.02],
            "pixel_ratio": macs / 1e4}


def _chosen(rows, bound):
    from matt.bench.tiling import choose_plan

    chosen = choose_plan(rows, bound)["chosen"]
    return chosen["patch"], chosen["halo"]


def test_the_plan_is_the_cheapest_inside_both_bounds():
    from matt.bench.tiling import choose_plan, frontier

    rows = [_plan_row(8, 11, 140_000, 0.0, 0.90, exact=True), _plan_row(8, 4, 40_000, 3e-5, 0.90),
            _plan_row(16, 0, 10_000, 6e-4, 0.85),  # within the bound, outside the interval
            _plan_row(16, 2, 15_000, 9e-4, 0.905), _plan_row(8, 0, 9_000, 2e-3, 0.90),
            _plan_row(16, 11, 60_000, 0.0, 0.90, exact=True),
            _plan_row(32, 11, 30_000, 0.0, 0.90, exact=True)]
    choice = choose_plan(rows, 1e-3)
    assert _chosen(rows, 1e-3) == (16, 2)
    assert choice["passing"] == 5 and choice["reference"]["8"]["halo"] == 11
    assert _chosen(rows, 1e-6) == (32, 11)
    assert [(r["patch"], r["halo"]) for r in frontier(rows)] == [(8, 0), (16, 0), (32, 11)]
    tie = [*rows, _plan_row(32, 1, 15_000, 1e-4, 0.90)]  # as cheap, closer to exact
    assert _chosen(tie, 1e-3) == (32, 1)
    higher = [*rows[:-1], _plan_row(32, 0, 10_000, 3e-4, 0.99),
              _plan_row(32, 11, 30_000, 0.0, 0.98, exact=True)]
    assert _chosen(higher, 1e-3) == (32, 0)  # judged against its own patch's exact tiling
