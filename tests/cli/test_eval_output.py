"""``matt-eval``'s printed table and README title say what was run, and no more."""

from __future__ import annotations

from dataclasses import asdict

from matt.evaluation.profiles import PROFILES
from matt.evaluation.report import console_table, profile_title, render_markdown


def _results(budgets: tuple[int, ...], profile: dict) -> dict:
    cell = {"n_images": 4, "online": {str(b): 0.5 for b in budgets},
            "offline": {str(b): 0.75 for b in budgets}}
    return {
        "dataset": "fmnist", "profile": profile, "budgets": list(budgets),
        "defenses": ["none", "matt"], "clean_accuracy": {"none": 1.0, "matt": 0.9},
        "robust_accuracy": {"square": {"none": cell, "matt": cell}},
        "threats": {"linf": 0.1}, "command": "matt-eval", "git_revision": "abc",
        "created": "now", "machine": "cpu", "eval_set": "4 images", "models": {"none": "x"},
    }


def test_a_single_budget_prints_one_value_not_a_pair():
    results = _results((50,), asdict(PROFILES["quick"].with_overrides(budgets=(50,))))
    text = console_table(results, "online")
    assert "50 / 50" not in text and "/ " not in text
    assert "online rule, 50 queries" in text
    markdown = render_markdown(results, {})
    assert "50 / 50" not in markdown and "online rule, 50 queries" in markdown


def test_the_printed_table_has_a_header_row_above_aligned_rows():
    lines = console_table(_results((50, 100), asdict(PROFILES["quick"])), "online").splitlines()
    assert lines[0] == "robust accuracy (%), online rule, 50 / 100 queries:"
    assert lines[1].split() == ["Defense", "Clean", "acc.", "Square", "(ℓ∞)"]
    assert lines[2].split()[:2] == ["None", "100.0"] and lines[2].endswith("50.0 / 50.0")
    assert lines[1].index("Square") == lines[2].index("50.0 / 50.0")


def test_readme_title_says_quick_profile_only_when_it_ran_unchanged():
    assert profile_title(asdict(PROFILES["quick"])) == "quick profile"
    changed = asdict(PROFILES["quick"].with_overrides(budgets=(50,), n_images=2))
    assert profile_title(changed) == "quick profile with budgets, n_images overridden"
    title = render_markdown(_results((50,), changed), {}).splitlines()[0]
    assert title == "# Robust accuracy: fmnist (quick profile with budgets, n_images overridden)"
    # a results.json read back has lists where the profile has tuples: still unchanged
    import json

    assert profile_title(json.loads(json.dumps(asdict(PROFILES["paper"])))) == "paper profile"


def test_the_report_states_each_cells_queries_and_their_rate():
    results = _results((50,), asdict(PROFILES["quick"]))
    fast = {**results["robust_accuracy"]["square"]["none"], "mean_queries": 30.0, "seconds": 2.0}
    slow = {**fast, "seconds": 0.0}
    results["robust_accuracy"]["square"] = {"none": fast, "matt": slow}
    section = render_markdown(results, {}).split("## Cost per cell")[1]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| Square")]
    assert [row[1] for row in rows] == ["none", "matt"]
    assert rows[0][2:] == ["4", "120", "0.0", "60 |"]  # 4 images × 30 queries in 2 s
    assert rows[1][-1] == "– |"  # no time recorded: no rate invented


def test_a_partial_record_names_its_short_cells_and_marks_their_figures():
    results = _results((50,), asdict(PROFILES["quick"]))
    results.update(n_images=4, complete=False)
    results["robust_accuracy"]["square"]["matt"] = {
        **results["robust_accuracy"]["square"]["matt"], "n_images": 2}
    markdown = render_markdown(results, {})
    assert "  - not finished: Square × matt: 2 / 4" in markdown
    assert "none: " not in markdown.split("**partial**")[1].split("\n\n")[0]  # complete cell
    matt_row = next(line for line in markdown.splitlines() if line.startswith("| MATT"))
    none_row = next(line for line in markdown.splitlines() if line.startswith("| None"))
    assert "(n = 2)" in matt_row and "(n = " not in none_row
