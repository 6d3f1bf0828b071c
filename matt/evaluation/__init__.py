"""Robust-accuracy evaluation: defenses as targets, attack × defense cells, tables, figures."""

from matt.evaluation.dataset import EvalSet, evaluation_set
from matt.evaluation.defenses import DEFENSES, DefenseSetting, build_defense
from matt.evaluation.evaluate import EvalRequest, evaluate
from matt.evaluation.profiles import PROFILES, EvalProfile
from matt.evaluation.records import CellSummary, ImageRecord, judge_offline, online_curve
from matt.evaluation.runner import EvalPlan, Evaluator
from matt.evaluation.subject import EvalSubject, resolve_subject
from matt.evaluation.targets import PipelineTarget, RemoteTarget, TorchTarget

__all__ = [
    "DEFENSES",
    "PROFILES",
    "CellSummary",
    "DefenseSetting",
    "EvalPlan",
    "EvalProfile",
    "EvalRequest",
    "EvalSet",
    "EvalSubject",
    "Evaluator",
    "ImageRecord",
    "PipelineTarget",
    "RemoteTarget",
    "TorchTarget",
    "build_defense",
    "evaluate",
    "evaluation_set",
    "judge_offline",
    "online_curve",
    "resolve_subject",
]
