"""The results file (JSON) and the Table 2 layout (Markdown), with the command that made them."""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matt.attacks import ATTACKS, attack_base_name
from matt.evaluation.checkpoint import write_atomic

RULES = {
    "online": "broken at the first query inside the ε-ball whose returned answer was wrong "
              "(the attacker has seen the service fooled); the headline",
    "offline": "broken if the attacker's candidate after b queries (its in-ball query with the "
               "lowest returned margin) is misclassified by a majority of fresh queries; once "
               "broken, broken at larger budgets",
    "adaptive": "the online rule under the strongest of the plain attack (M = 1) and its EOT "
                "forms (each candidate's answer averaged over M fresh queries, every one "
                "counted), at an equal query budget",
}
NORM_SYMBOL = {"linf": "ℓ∞", "l2": "ℓ2"}
ATTACK_TITLES = {"nes": "NES", "simba": "SimBA", "square": "Square", "boundary": "Boundary",
                 "hopskipjump": "HopSkipJump", "eot-square": "EOT-Square", "eot-nes": "EOT-NES",
                 "square-art": "Square (ART)"}
DEFENSE_TITLES = {"none": "None", "at": "AT", "smoothing": "Smoothing", "noise": "Random noise",
                  "disco": "DISCO", "disco-ensemble": "DISCO ensemble", "matt": "MATT",
                  "matt-at": "MATT-AT", "remote": "Server (remote)", "aaa": "AAA",
                  "bitdepth": "Bit depth", "jpeg": "JPEG"}


def machine_description() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}"


def table_budgets(budgets: list[int]) -> tuple[int, int]:
    """The two budgets Table 2 shows: 200 (or the smallest) and the largest."""
    low = 200 if 200 in budgets else min(budgets)
    return low, max(budgets)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _with_interval(value: float | None, interval: Any) -> str:
    if value is None or not interval:
        return _percent(value)
    return f"{_percent(value)} [{100 * interval[0]:.0f}–{100 * interval[1]:.0f}]"


def _budget_cell(values: Mapping[str, Any], low: int, high: int,
                 intervals: Mapping[str, Any] | None = None) -> str:
    """``low / high`` robust accuracy with Wilson 95 % intervals, or one value when the run
    had a single budget."""
    intervals = intervals or {}
    shown = [_with_interval(values[str(b)], intervals.get(str(b)))
             for b in sorted({low, high})]
    return " / ".join(shown)


def attack_title(spec: str) -> str:
    """``square:p_init=0.05`` → ``Square (p_init=0.05)``."""
    name, _, overrides = spec.partition(":")
    title = ATTACK_TITLES.get(name, name)
    return f"{title} ({overrides})" if overrides else title


def budgets_label(low: int, high: int) -> str:
    """``200 / 2500 queries``, or ``50 queries`` for a single budget."""
    return f"{low} queries" if low == high else f"{low} / {high} queries"


def table_header(results: Mapping[str, Any]) -> list[str]:
    """The Table 2 column titles: defense, clean accuracy, then one column per attack."""
    return ["Defense", "Clean acc."] + [
        f"{attack_title(a)} ({NORM_SYMBOL[ATTACKS[attack_base_name(a)].norm]})"
        for a in results["robust_accuracy"]]


def profile_title(profile: Mapping[str, Any]) -> str:
    """``quick profile`` only when the named profile ran unchanged; else what was overridden."""
    from dataclasses import asdict

    from matt.evaluation.profiles import PROFILES

    name = str(profile["name"])
    if name not in PROFILES:
        return f"{name} profile"
    named = json.loads(json.dumps(asdict(PROFILES[name])))
    given = json.loads(json.dumps(dict(profile), default=str))
    changed = sorted(key for key in named if given.get(key) != named[key])
    if not changed:
        return f"{name} profile"
    return f"{name} profile with {', '.join(changed)} overridden"


def _short(results: Mapping[str, Any], cell: Mapping[str, Any]) -> str:
    """`` (n = k)`` after a figure whose cell holds fewer images than the evaluation set (a
    partial run): rates over different images are not the same measurement."""
    total, count = results.get("n_images"), cell["n_images"]
    return f" (n = {count})" if total and count < total else ""


def short_cells(results: Mapping[str, Any]) -> list[str]:
    """``attack × defense: k / N`` for every cell a partial run has not finished."""
    return [f"{attack_title(attack)} × {defense}: {cell['n_images']} / {results['n_images']}"
            for attack, by_defense in results["robust_accuracy"].items()
            for defense, cell in by_defense.items() if _short(results, cell)]


def table_rows(results: Mapping[str, Any], rule: str) -> list[list[str]]:
    """Rows of the Table 2 layout: defense, clean accuracy, then low / high budget per attack."""
    budgets = [int(b) for b in results["budgets"]]
    low, high = table_budgets(budgets)
    attacks = list(results["robust_accuracy"])
    rows = []
    for defense in results["defenses"]:
        row = [DEFENSE_TITLES.get(defense, defense),
               _percent(results["clean_accuracy"].get(defense))]
        for attack in attacks:
            cell = results["robust_accuracy"][attack].get(defense)
            if not cell or cell["n_images"] == 0:
                row.append("–")
                continue
            row.append(_budget_cell(cell[rule], low, high, cell.get(f"{rule}_interval"))
                       + _short(results, cell))
        rows.append(row)
    return rows


def three_numbers(results: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per defense and attack with an EOT form run beside it: online, offline and adaptive
    robust accuracy at the largest budget, each with its Wilson 95 % interval. Adaptive is the
    lowest online figure among the plain attack (M = 1) and its EOT cells (the strongest M,
    named beside it): averaging costs M queries per candidate, so a larger M is not always
    stronger at an equal budget."""
    high = max(int(b) for b in results["budgets"])
    robust = results["robust_accuracy"]
    plain = [a for a in robust if not attack_base_name(a).startswith("eot-")]
    header = ["Defense"]
    for attack in plain:
        header += [f"{attack_title(attack)} online", "offline", "adaptive (strongest M)"]
    rows = []
    for defense in results["defenses"]:
        row = [DEFENSE_TITLES.get(defense, defense)]
        for attack in plain:
            cell = robust[attack].get(defense)
            if not cell or not cell["n_images"]:
                row += ["–", "–", "–"]
                continue
            row += [_with_interval(cell[rule][str(high)],
                                   cell.get(f"{rule}_interval", {}).get(str(high)))
                    + _short(results, cell) for rule in ("online", "offline")]
            tried = [(1, cell)] + [
                (_eot_samples(results, name), robust[name][defense]) for name in robust
                if attack_base_name(name) == f"eot-{attack_base_name(attack)}"
                and robust[name].get(defense, {}).get("n_images")]
            if len(tried) > 1:
                samples, best = min(tried, key=lambda item: item[1]["online"][str(high)])
                row.append(_with_interval(best["online"][str(high)],
                                          best.get("online_interval", {}).get(str(high)))
                           + f" (M={samples})" + _short(results, best))
            else:
                row.append("–")
        rows.append(row)
    return header, rows


def _eot_samples(results: Mapping[str, Any], attack: str) -> int:
    """The M an EOT cell ran with (from its recorded hyper-parameters)."""
    settings = results.get("attacks", {}).get(attack, {})
    return int(settings.get("eot_samples", 0)) or int(
        attack.partition("eot_samples=")[2].split(",")[0] or 0)


def console_table(results: Mapping[str, Any], rule: str) -> str:
    """Table 2 for the terminal: a title naming the rule and budgets, a header, aligned rows."""
    low, high = table_budgets([int(b) for b in results["budgets"]])
    table = [table_header(results), *table_rows(results, rule)]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [f"robust accuracy (%), {rule} rule, {budgets_label(low, high)}:"]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
              for row in table]
    return "\n".join(lines)


def _no_attack_section(no_attack: Mapping[str, Any], low: int, high: int) -> str:
    """The online rule with no attack: each clean evaluation image sent again and again."""
    rows = []
    for defense, summary in no_attack.items():
        cells = []
        for budget in sorted({low, high}):
            mark = " (≤, extrapolated)" if budget in summary["extrapolated"] else ""
            cells.append(_percent(summary["online"][str(budget)]) + mark)
        rows.append([DEFENSE_TITLES.get(defense, defense),
                     f"{100 * summary['per_query_error']:.2f}",
                     f"{summary['images_ever_wrong']} / {summary['n_images']}", *cells])
    sent = max(summary["queries"] for summary in no_attack.values())
    header = ["Defense", "wrong answers per query (%)", f"images ever wrong in {sent}",
              *(f"online, {budget} queries" for budget in sorted({low, high}))]
    return ("### No attack: the online rule on the clean images sent again and again\n\n"
            f"Each evaluation image sent unchanged {sent} times (once to a deterministic "
            "defense). From each image's wrong-answer rate p, the chance that b queries are all "
            "answered right, (1 − p)^b, averaged over the images: what the online rule would "
            "report for a random defense with no attack at all. Beyond the queries sent it is "
            "an upper bound (an image never seen wrong counts as never wrong).\n\n"
            + _markdown_table(header, rows))


def _cost_section(results: Mapping[str, Any]) -> str:
    """Queries and wall time per cell: what an evaluation of this size costs on this machine."""
    rows = []
    for attack, by_defense in results["robust_accuracy"].items():
        for defense, cell in by_defense.items():
            seconds = float(cell.get("seconds", 0.0))
            if not cell["n_images"] or "mean_queries" not in cell:
                continue
            queries = cell["n_images"] * cell["mean_queries"]
            rate = f"{queries / seconds:,.0f}" if seconds > 0 else "–"
            rows.append([attack_title(attack), defense, str(cell["n_images"]),
                         f"{queries:,.0f}", f"{seconds / 60:,.1f}", rate])
    header = ["Attack", "Defense", "images", "queries", "minutes", "queries/s"]
    return ("## Cost per cell\n\nQueries sent and wall time of the attack and the offline "
            "check, summed over the cell's images (a batched cell's time is its batches'); "
            f"{results.get('torch_threads', '?')} thread(s), on the machine above, with "
            "whatever else ran beside it.\n\n" + _markdown_table(header, rows))


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(results: Mapping[str, Any], figures: Mapping[str, str]) -> str:
    """The Markdown report: provenance, Table 2 (online, then offline) and the figures."""
    budgets = [int(b) for b in results["budgets"]]
    low, high = table_budgets(budgets)
    header = table_header(results)
    counts = sorted({cell["n_images"] for by_defense in results["robust_accuracy"].values()
                     for cell in by_defense.values()})
    threats = ", ".join(f"{NORM_SYMBOL[n]} ε = {e:.4g}" for n, e in results["threats"].items())
    parts = [
        f"# Robust accuracy: {results['dataset']} ({profile_title(results['profile'])})",
        "",
        f"- command: `{results['command']}`",
        f"- git revision: `{results['git_revision']}`; created {results['created']} on "
        f"{results['machine']}",
        f"- evaluation set: {results['eval_set']}",
        f"- images per cell: {', '.join(map(str, counts))}; budgets: {threats}; "
        f"queries: {', '.join(map(str, budgets))}",
        f"- models: {'; '.join(f'{k}: {v}' for k, v in results['models'].items())}",
    ]
    if not results.get("complete", True):
        parts.append("- **partial**: the run stopped at its time limit; rerun the same command "
                     "to resume from the checkpoints")
        parts += [f"  - not finished: {line}" for line in short_cells(results)]
    header3, rows3 = three_numbers(results)
    if len(header3) > 1:
        parts += ["", f"## Three numbers per defense (%), {high} queries, Wilson 95 % intervals",
                  "", *(f"- *{rule}*: {text}." for rule, text in RULES.items()), "",
                  _markdown_table(header3, rows3)]
    for rule in ("online", "offline"):
        parts += ["", f"## Robust accuracy (%), {rule} rule, {budgets_label(low, high)}", "",
                  f"*{rule}*: {RULES[rule]}.", "",
                  _markdown_table(header, table_rows(results, rule))]
        if rule == "online" and results.get("no_attack"):
            parts += ["", _no_attack_section(results["no_attack"], low, high)]
    parts += ["", "Clean acc.: accuracy of the defended system on the evaluation images "
              "(all classified right by the undefended classifier), averaged over "
              f"{results['profile']['clean_repeats']} passes for random defenses."]
    if results.get("all_budgets_note"):
        parts += ["", results["all_budgets_note"]]
    parts += ["", _cost_section(results)]
    for title, name in figures.items():
        parts += ["", f"## {title}", "", f"![{title}]({name})"]
    return "\n".join(parts) + "\n"


def write_results(folder: Path, results: Mapping[str, Any], figures: Mapping[str, str]) -> None:
    """``results.json`` and ``README.md`` in ``folder``, each written atomically."""
    write_atomic(folder / "results.json", json.dumps(results, indent=1, default=str) + "\n")
    write_atomic(folder / "README.md", render_markdown(results, figures))
