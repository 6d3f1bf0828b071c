"""One evaluation from request to results: models, images, cells, figures, report.

The command-line layer (:mod:`matt.evaluation.cli`) only parses; everything here is callable
from Python and tests.
"""

from __future__ import annotations

import datetime
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from matt.attacks import ATTACKS, attack_base_name, build_attack, default_threat
from matt.errors import InputError
from matt.evaluation import figures
from matt.evaluation.checkpoint import check_record_folder
from matt.evaluation.dataset import EvalSet, clean_test_set, evaluation_set
from matt.evaluation.defenses import DEFENSES, DefenseSetting, build_defense
from matt.evaluation.profiles import EvalProfile, patch_sizes, pool_sizes
from matt.evaluation.records import CellSummary, no_attack_summary, online_curve
from matt.evaluation.report import RULES, machine_description, write_results
from matt.evaluation.runner import EvalPlan, Evaluator, TimeUp
from matt.evaluation.subject import EvalSubject, resolve_subject
from matt.evaluation.targets import TargetFactory
from matt.formats.weights import git_revision

FIGURE_FILES = {"figure5": "figure5_attack_progress.png", "figure6": "figure6_robust_vs_k.png",
                "figure11": "figure11_clean_vs_patches.png"}


@dataclass(frozen=True)
class EvalRequest:
    """Everything ``matt-eval`` was asked, already parsed.

    Attributes:
        bundle: ``fmnist``, ``cifar10``, a ``weights.pt`` or a bundle folder.
        profile: the profile with command-line overrides applied.
        output: the results folder (``results.json``, ``README.md``, figures).
        checkpoints: the checkpoint folder (resumes a stopped run).
        command: the command line, for the results file.
        at_weights: the adversarially trained twin, when not shipped beside the bundle.
        seed: ``None``: OS randomness; an integer: reproducible draws, attacks and defenses.
        url, protocol: a live server to attack (defense ``remote``).
        eps_linf, eps_l2: budgets overriding the dataset's defaults.
        time_limit_s: stop (resumably) after this long.
        figures: draw Figures 5, 6 and 11.
        runtime_bundle: a bundle exported from ``bundle``'s weights: MATT on ONNX Runtime.
        overwrite: replace a record in ``output`` that other checkpoints wrote.
    """

    bundle: str
    profile: EvalProfile
    output: Path
    checkpoints: Path
    command: str
    at_weights: str | None = None
    seed: int | None = None
    url: str | None = None
    protocol: str = "http"
    eps_linf: float | None = None
    eps_l2: float | None = None
    time_limit_s: float | None = None
    figures: bool = True
    runtime_bundle: str | None = None
    overwrite: bool = False


def evaluate(request: EvalRequest) -> dict[str, Any]:
    """Run the request; write results and figures; return the results dictionary."""
    check_record_folder(request.output, request.checkpoints, request.overwrite)
    started = time.monotonic()
    deadline = started + request.time_limit_s if request.time_limit_s else None
    profile = request.profile
    subject = resolve_subject(request.bundle, request.at_weights, request.runtime_bundle)
    subject.remote_url, subject.remote_protocol = request.url, request.protocol
    settings = [DefenseSetting(name) for name in profile.defenses]
    factories = {s.label: build_defense(subject, s) for s in settings}
    undefended = factories.get("none") or build_defense(subject, DefenseSetting("none"))
    selection_seed = request.seed if request.seed is not None else 0
    eval_set = evaluation_set(subject, undefended(None).predict, profile.n_images,
                              selection_seed)
    plan = EvalPlan(budgets=profile.budgets,
                    threats=(default_threat(subject.dataset, "linf", request.eps_linf),
                             default_threat(subject.dataset, "l2", request.eps_l2)),
                    fresh_queries=profile.fresh_queries, clean_repeats=profile.clean_repeats,
                    seed=request.seed, chunk=profile.chunk)
    attacks = {name: build_attack(name, subject.dataset)
               for name in dict.fromkeys((*profile.attacks, profile.figure_attack))}
    evaluator = Evaluator(eval_set, plan, request.checkpoints, attacks, factories,
                          subject.sources, deadline)
    cells = [(attack, setting) for attack in profile.attacks for setting in settings]
    extras: dict[str, Any] = {}
    complete = True
    try:
        clean = {s.label: evaluator.clean_accuracy(s) for s in settings}
        repeats = {s.label: evaluator.repeated_clean(s, profile.repeat_queries)
                   for s in settings}
        evaluator.run(cells)
        extras.update(_studies(request, evaluator, subject, factories))
    except TimeUp:
        complete = False
        extras.update(_studies(request, evaluator, subject, factories, finished_only=True))
        clean = {s.label: evaluator.clean_accuracy(s, compute=False) for s in settings}
        repeats = {s.label: evaluator.repeated_clean(s, profile.repeat_queries, compute=False)
                   for s in settings}
    extras["no_attack"] = {label: no_attack_summary(values, profile.budgets)
                           for label, values in repeats.items() if values is not None}
    results = _results(request, subject, eval_set, plan, settings, clean, evaluator, cells,
                       extras, complete, time.monotonic() - started)
    figure_files = _draw(request, results, evaluator, cells) if request.figures else {}
    write_results(request.output, results, figure_files)
    return results


def _studies(request: EvalRequest, evaluator: Evaluator, subject: EvalSubject,
             factories: dict[str, TargetFactory], finished_only: bool = False
             ) -> dict[str, Any]:
    """Figures 6 and 11 where asked; ``finished_only`` (the deadline passed): only those
    whose cells are all checkpointed, so a partial record still shows a finished figure."""
    profile = request.profile
    studies: dict[str, Any] = {}
    for name, images, study in (("figure6", profile.k_images, _pool_study),
                                ("figure11", profile.patch_images, _patch_study)):
        if not (request.figures and images and "matt" in profile.defenses):
            continue
        try:
            studies[name] = study(evaluator, subject, factories, profile)
        except TimeUp:
            if not finished_only:
                raise
    return studies


def _pool_study(evaluator: Evaluator, subject: EvalSubject,
                factories: dict[str, TargetFactory], profile: EvalProfile) -> dict[str, Any]:
    """Figure 6: the k-attack against MATT with the first K purifiers, for each K."""
    full = subject.pool_size
    count = min(profile.k_images, len(evaluator.eval_set))
    attack = profile.figure_attack
    points = []
    for pool in pool_sizes(full):
        setting = DefenseSetting("matt") if pool == full else DefenseSetting("matt", pool=pool)
        if setting.label not in factories:
            factories[setting.label] = build_defense(subject, setting)
        records = evaluator.run([(attack, setting)], count)
        summary = CellSummary.from_records(attack, setting.label,
                                           records[(attack, setting.label)], profile.budgets)
        points.append({"K": pool, **summary.to_dict()})
    return {"attack": attack, "n_images": count, "points": points}


def _patch_study(evaluator: Evaluator, subject: EvalSubject,
                 factories: dict[str, TargetFactory], profile: EvalProfile) -> dict[str, Any]:
    """Figure 11: MATT's clean accuracy on unfiltered test images against the patch count."""
    clean_set: EvalSet = clean_test_set(subject, profile.patch_images)
    side = subject.input_shape[1]
    points = []
    for patch in patch_sizes(side):
        setting = DefenseSetting("matt", patch=patch)
        if setting.label not in factories:
            factories[setting.label] = build_defense(subject, setting)
        accuracy = evaluator.clean_accuracy(setting, clean_set, name="patches")
        patches = -(-side // patch) * -(-subject.input_shape[2] // patch)
        points.append({"patch": patch, "patches": patches,
                       "accuracy": None if accuracy is None else round(accuracy, 4)})
    if "none" not in factories:
        factories["none"] = build_defense(subject, DefenseSetting("none"))
    undefended = evaluator.clean_accuracy(DefenseSetting("none"), clean_set, name="patches")
    return {"n_images": len(clean_set), "eval_set": clean_set.description, "points": points,
            "undefended": None if undefended is None else round(undefended, 4)}


def source_revision() -> str:
    """The git revision, with ``+uncommitted`` when the package differs from it."""
    revision = git_revision()
    try:
        changes = subprocess.run(["git", "status", "--porcelain", "--", "."], capture_output=True,
                                 text=True, check=True, cwd=Path(__file__).parents[1]).stdout
    except (OSError, subprocess.CalledProcessError):
        return revision
    return f"{revision}+uncommitted" if changes.strip() else revision


def _results(request: EvalRequest, subject: EvalSubject, eval_set: EvalSet, plan: EvalPlan,
             settings: list[DefenseSetting], clean: dict[str, float | None],
             evaluator: Evaluator, cells: list[tuple[str, DefenseSetting]],
             extras: dict[str, Any], complete: bool, seconds: float) -> dict[str, Any]:
    robust: dict[str, dict[str, Any]] = {}
    for attack, setting in cells:
        records = evaluator.finished(attack, setting)
        summary = CellSummary.from_records(attack, setting.label, records, plan.budgets)
        robust.setdefault(attack, {})[setting.label] = summary.to_dict()
    return {
        "command": request.command,
        "checkpoints": str(request.checkpoints),
        "git_revision": source_revision(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "torch_threads": torch.get_num_threads(),
        "complete": complete,
        "seconds": round(seconds, 1),
        "dataset": subject.dataset,
        "models": subject.sources,
        "profile": asdict(request.profile),
        "seed": request.seed,
        "eval_set": eval_set.description,
        "n_images": len(eval_set),
        "threats": {t.norm: t.epsilon for t in plan.threats},
        "budgets": list(plan.budgets),
        "rules": RULES,
        "attacks": {a: evaluator.attacks[a].hyper_parameters() for a in request.profile.attacks},
        "defenses": {s.label: DEFENSES[s.name].description for s in settings},
        "clean_accuracy": {k: None if v is None else round(v, 4) for k, v in clean.items()},
        "robust_accuracy": robust,
        **extras,
    }


def _draw(request: EvalRequest, results: dict[str, Any], evaluator: Evaluator,
          cells: list[tuple[str, DefenseSetting]]) -> dict[str, str]:
    drawn: dict[str, str] = {}
    folder = request.output
    attack = request.profile.figure_attack
    if attack not in request.profile.attacks:
        attack = request.profile.attacks[0]
    top = max(request.profile.budgets)
    curves, offline = {}, {}
    for name, setting in cells:
        records = evaluator.finished(name, setting)
        if name == attack and records:
            curves[setting.label] = online_curve(records, top)
            cell = results["robust_accuracy"][name][setting.label]
            offline[setting.label] = {int(b): v for b, v in cell["offline"].items()}
    if curves:
        figures.attack_progress(curves, offline, attack, folder / FIGURE_FILES["figure5"])
        drawn[f"Figure 5: {attack} progress against queries"] = FIGURE_FILES["figure5"]
    if "figure6" in results:
        figures.robust_vs_pool(results["figure6"]["points"], request.profile.budgets,
                               results["figure6"]["attack"], folder / FIGURE_FILES["figure6"])
        drawn["Figure 6: robust accuracy against K"] = FIGURE_FILES["figure6"]
    if "figure11" in results:
        figures.clean_vs_patches(results["figure11"]["points"], results["figure11"]["undefended"],
                                 folder / FIGURE_FILES["figure11"])
        drawn["Figure 11: clean accuracy against the number of patches"] = \
            FIGURE_FILES["figure11"]
    return drawn


def check_names(attacks: tuple[str, ...], defenses: tuple[str, ...]) -> None:
    """Refuse unknown attack or defense names with the known ones listed."""
    for name in attacks:
        if attack_base_name(name) not in ATTACKS:
            raise InputError(f"unknown attack {name!r}; choose from {', '.join(ATTACKS)}")
    for name in defenses:
        if name not in DEFENSES:
            raise InputError(f"unknown defense {name!r}; choose from {', '.join(DEFENSES)}")
