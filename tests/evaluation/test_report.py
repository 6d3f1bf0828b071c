"""An evaluation end to end on a fitted tiny CNN: the table, the JSON, the figures, resuming."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from matt.errors import InputError
from matt.evaluation import PROFILES, EvalRequest, evaluate
from tests.attacks.conftest import one_thread

ATTACKS = ("square", "simba")
DEFENSES = ("none", "noise", "matt")
BUDGETS = (20, 60)


def _request(weights, tmp_path, **changes):
    profile = PROFILES["quick"].with_overrides(
        attacks=ATTACKS, defenses=DEFENSES, budgets=BUDGETS, n_images=3, k_images=2,
        patch_images=40, clean_repeats=2, chunk=2)
    values = {"bundle": str(weights), "profile": profile, "output": tmp_path / "results",
              "checkpoints": tmp_path / "checkpoints", "command": "matt-eval --test",
              "seed": 3, **changes}
    return EvalRequest(**values)


@pytest.fixture(scope="module")
def finished(tiny_weights_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluation")
    request = _request(tiny_weights_path, folder)
    with one_thread():
        return request, evaluate(request)


def test_results_json_holds_every_cell_with_its_provenance(finished):
    request, _results = finished
    saved = json.loads((request.output / "results.json").read_text())
    assert saved["command"] == "matt-eval --test"
    assert re.fullmatch(r"([0-9a-f]{40}|unknown)(\+uncommitted)?", saved["git_revision"])
    assert saved["complete"] is True and saved["budgets"] == list(BUDGETS)
    assert set(saved["clean_accuracy"]) == set(DEFENSES)
    for attack in ATTACKS:
        for defense in DEFENSES:
            cell = saved["robust_accuracy"][attack][defense]
            assert cell["n_images"] == 3
            for rule in ("online", "offline"):
                values = [cell[rule][str(b)] for b in BUDGETS]
                assert all(0 <= v <= 1 for v in values) and values == sorted(values, reverse=True)
    assert saved["clean_accuracy"]["none"] == 1.0  # the set holds correctly classified images
    assert [p["K"] for p in saved["figure6"]["points"]] == [1, 2]
    # the full pool's point is the table's own cell on the first k_images images: no second
    # checkpoint for it, one for each smaller K
    full = saved["figure6"]["points"][-1]
    assert saved["figure6"]["attack"] == "square" and full["n_images"] == 2
    matt_cells = sorted(p.name for p in request.checkpoints.glob("square__matt*.json"))
    assert matt_cells == ["square__matt.json", "square__matt_K_1_.json"]
    assert [p["patches"] for p in saved["figure11"]["points"]] == [1, 4, 16, 49]


def test_no_attack_row_sends_each_clean_image_again_and_again(finished):
    request, _ = finished
    saved = json.loads((request.output / "results.json").read_text())
    none, noise = saved["no_attack"]["none"], saved["no_attack"]["noise"]
    # the undefended classifier is deterministic and right on every evaluation image
    assert none["queries"] == 1 and none["online"] == {"20": 1.0, "60": 1.0}
    sent = request.profile.repeat_queries
    assert noise["queries"] == sent and noise["n_images"] == 3
    assert noise["extrapolated"] == [b for b in BUDGETS if b > sent]
    assert 0 <= noise["per_query_error"] <= 1
    assert noise["online"]["20"] >= noise["online"]["60"]
    assert "No attack: the online rule on the clean images" in (
        request.output / "README.md").read_text()


def test_markdown_table_has_the_table_2_layout(finished):
    request, _ = finished
    text = (request.output / "README.md").read_text()
    assert "`matt-eval --test`" in text
    for rule in ("online", "offline"):
        section = text.split(f"{rule} rule, 20 / 60 queries")[1]
        lines = [line for line in section.splitlines() if line.startswith("|")]
        assert lines[0] == "| Defense | Clean acc. | Square (ℓ∞) | SimBA (ℓ2) |"
        assert [line.split(" | ")[0] for line in lines[2:5]] == ["| None", "| Random noise",
                                                                 "| MATT"]
        for line in lines[2:5]:
            cells = line.strip("| ").split(" | ")
            assert re.fullmatch(r"\d+\.\d", cells[1])
            interval = r"\d+\.\d \[\d+–\d+\]"
            assert all(re.fullmatch(f"{interval} / {interval}", c) for c in cells[2:])


def test_figures_are_png_files(finished):
    request, _ = finished
    for name in ("figure5_attack_progress.png", "figure6_robust_vs_k.png",
                 "figure11_clean_vs_patches.png"):
        assert (request.output / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_resumes_from_the_checkpoints(finished, tiny_weights_path):
    request, results = finished
    again = evaluate(request)
    assert again["robust_accuracy"] == results["robust_accuracy"]
    assert again["clean_accuracy"] == results["clean_accuracy"]


def test_other_settings_do_not_mix_into_a_checkpoint(finished, tiny_weights_path):
    request, _ = finished
    other = _request(tiny_weights_path, request.checkpoints.parent, seed=4)
    with pytest.raises(InputError, match="other settings"):
        evaluate(other)


def test_a_time_limit_stops_resumably_and_says_partial(tiny_weights_path, tmp_path):
    results = evaluate(_request(tiny_weights_path, tmp_path, time_limit_s=1e-6))
    assert results["complete"] is False
    assert "**partial**" in (tmp_path / "results" / "README.md").read_text()


def test_a_partial_record_keeps_the_figures_it_finished(finished, tmp_path):
    request, results = finished
    more = request.profile.with_overrides(attacks=(*ATTACKS, "nes"))  # nes: never attacked
    partial = evaluate(replace(request, profile=more, output=tmp_path / "partial",
                               time_limit_s=1e-6))
    assert partial["complete"] is False
    assert partial["figure6"] == results["figure6"] and "figure11" in partial
    assert (tmp_path / "partial" / "figure6_robust_vs_k.png").is_file()


def test_three_numbers_take_the_strongest_m_as_adaptive():
    from matt.evaluation.report import three_numbers

    def cell(online: float, offline: float) -> dict:
        return {"n_images": 100, "online": {"2500": online}, "offline": {"2500": offline},
                "online_interval": {"2500": [online - 0.1, online + 0.1]},
                "offline_interval": {"2500": [offline - 0.1, offline + 0.1]}}

    results = {"budgets": [2500], "defenses": {"matt": "", "none": ""}, "robust_accuracy": {
        "square": {"matt": cell(0.7, 0.8), "none": cell(0.0, 0.0)},
        "eot-square:eot_samples=4": {"matt": cell(0.6, 0.7)},
        "eot-square:eot_samples=10": {"matt": cell(0.65, 0.7)}}}
    header, rows = three_numbers(results)
    assert header == ["Defense", "Square online", "offline", "adaptive (strongest M)"]
    assert rows[0] == ["MATT", "70.0 [60–80]", "80.0 [70–90]", "60.0 [50–70] (M=4)"]
    assert rows[1][3] == "–", "no EOT cell for the undefended classifier"
    # the plain attack is M = 1: when averaging is weaker at the same budget, it is adaptive
    results["robust_accuracy"]["square"]["matt"] = cell(0.5, 0.8)
    assert three_numbers(results)[1][0][3] == "50.0 [40–60] (M=1)"
