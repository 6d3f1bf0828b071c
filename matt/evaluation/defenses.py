"""Every defense of Table 2 by name, each built from an :class:`EvalSubject` into a target.

A builder returns a *factory*: ``factory(seed)`` gives a target whose random draws follow
``seed`` (``None``: the OS CSPRNG), so an evaluation with ``--seed`` is reproducible image by
image, and a resumed run draws what an uninterrupted one would have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from matt.defense import (
    AaaLinear,
    BitDepth,
    DiscoDeterministic,
    DiscoEnsembleDefense,
    GaussianNoise,
    Jpeg,
    MedianSmoothing,
)
from matt.errors import InputError, SpecError
from matt.evaluation.subject import EvalSubject
from matt.evaluation.targets import PipelineTarget, RemoteTarget, TargetFactory, TorchTarget

NOISE_SIGMA = 0.041
SMOOTHING_KERNEL = 3
BIT_DEPTH = 4
JPEG_QUALITY = 75


@dataclass(frozen=True)
class DefenseSetting:
    """A defense by registry name, with MATT's pool size and patch size when they vary.

    Attributes:
        name: a key of :data:`DEFENSES`.
        pool: MATT only: use the first ``pool`` purifiers (Figure 6); ``None``: all.
        patch: MATT only: patch size in pixels (Figure 11); ``None``: the bundle's default.
    """

    name: str
    pool: int | None = None
    patch: int | None = None

    def __post_init__(self) -> None:
        if self.name not in DEFENSES:
            raise InputError(f"unknown defense {self.name!r}; choose from {', '.join(DEFENSES)}")
        if (self.pool is not None or self.patch is not None) and not self.name.startswith("matt"):
            raise SpecError(f"defense {self.name}: pool and patch apply to matt and matt-at only")
        for value in (self.pool, self.patch):
            if value is not None and value < 1:
                raise SpecError(f"defense {self.name}: pool and patch must be >= 1, got {value}")

    @property
    def label(self) -> str:
        """The name in tables and checkpoints, e.g. ``matt``, ``matt[K=2]``, ``matt[patch=7]``."""
        extras = [f"K={self.pool}"] if self.pool is not None else []
        extras += [f"patch={self.patch}"] if self.patch is not None else []
        return f"{self.name}[{','.join(extras)}]" if extras else self.name


@dataclass(frozen=True)
class DefenseInfo:
    description: str
    build: Callable[[EvalSubject, DefenseSetting], TargetFactory]


def _none(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
    if subject.weights is None:
        pipeline = subject.pipeline()
        return lambda seed: PipelineTarget(setting.label, pipeline, purify=False)
    classifier = subject.classifier
    return lambda seed: TorchTarget(setting.label, classifier, None, subject.num_classes)


def _at(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
    classifier = subject.at_classifier
    return lambda seed: TorchTarget(setting.label, classifier, None, subject.num_classes)


def _smoothing(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
    classifier, defense = subject.classifier, MedianSmoothing(SMOOTHING_KERNEL)
    return lambda seed: TorchTarget(setting.label, classifier, defense, subject.num_classes)


def _noise(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
    classifier = subject.classifier
    return lambda seed: TorchTarget(setting.label, classifier,
                                    GaussianNoise(NOISE_SIGMA, seed=seed), subject.num_classes)


def _bit_depth(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
    classifier, defense = subject.classifier, BitDepth(BIT_DEPTH)
    return lambda seed: TorchTarget(setting.label, classifier, defense, subject.num_classes)


def _jpeg(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
    classifier, defense = subject.classifier, Jpeg(JPEG_QUALITY)
    return lambda seed: TorchTarget(setting.label, classifier, defense, subject.num_classes)


def _aaa(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
    classifier, post = subject.classifier, AaaLinear()
    return lambda seed: TorchTarget(setting.label, classifier, None, subject.num_classes,
                                    postprocess=post)


def disco_member(subject: EvalSubject) -> int:
    """The pool member DISCO runs alone: the first trained on PGD pairs (alone or in a mix,
    as the paper's DISCO used its PGD-trained model), else the first."""
    if subject.weights is None:
        return 0
    for index, member in enumerate(subject.weights.pool):
        attack = member.provenance.get("attack")
        if isinstance(attack, dict) and "pgd" in str(attack.get("name", "")).split("+"):
            return index
    return 0


def _disco_pad(subject: EvalSubject) -> int:
    weights = subject.weights
    return weights.receptive_radius if weights else 0


def _disco(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
    member, pad = disco_member(subject), _disco_pad(subject)
    if subject.bundle_dir is not None:
        # With --runtime-bundle the member runs on ONNX Runtime like MATT (several times
        # faster than torch eager): one window per image, the whole image with a halo of
        # ``pad``, which is purify_whole's edge-replicated padding.
        pipeline = subject.whole_image_pipeline(member, pad)
        return lambda seed: PipelineTarget(setting.label, pipeline)
    defense = DiscoDeterministic(subject.pool[member], pad)
    classifier = subject.classifier
    return lambda seed: TorchTarget(setting.label, classifier, defense, subject.num_classes)


def _disco_ensemble(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
    classifier, pool, pad = subject.classifier, subject.pool, _disco_pad(subject)
    return lambda seed: TorchTarget(setting.label, classifier,
                                    DiscoEnsembleDefense(pool, pad, seed=seed),
                                    subject.num_classes)


def _matt(adversarially_trained: bool) -> Callable[[EvalSubject, DefenseSetting], TargetFactory]:
    def build(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
        pipeline = subject.pipeline(adversarially_trained, setting.pool, setting.patch)
        return lambda seed: PipelineTarget(setting.label, pipeline.with_seed(seed))

    return build


def _remote(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
    if subject.remote_url is None:
        raise InputError("defense remote attacks a live server: pass --url HOST:PORT")
    from matt.serve.client import MattClient

    client = MattClient(subject.remote_url, subject.remote_protocol)
    if not client.ready():
        raise InputError(f"no matt-serve server ready at {subject.remote_url} "
                         f"({subject.remote_protocol}); start one with matt-serve")
    _check_served_shape(client, subject)
    target = RemoteTarget(setting.label, client, subject.num_classes)
    return lambda seed: target


def _check_served_shape(client: object, subject: EvalSubject) -> None:
    """The server's image input must take the bundle's (C, H, W): one clear line if not."""
    metadata = client.model_metadata()  # type: ignore[attr-defined]
    inputs = {str(tensor["name"]): [int(v) for v in tensor["shape"]]
              for tensor in metadata.get("inputs", [])}
    shape = inputs.get("images")
    if shape is None:
        raise InputError(f"the server at {subject.remote_url} has no 'images' input "
                         f"(inputs: {sorted(inputs)}); is it a matt-serve server?")
    served = tuple(shape[-3:])
    if served != tuple(subject.input_shape):
        raise InputError(f"the server at {subject.remote_url} takes images of shape {served}, "
                         f"the bundle {tuple(subject.input_shape)} ({subject.dataset}); pass the "
                         "--bundle it serves")


DEFENSES: dict[str, DefenseInfo] = {
    "none": DefenseInfo("the undefended classifier", _none),
    "at": DefenseInfo("the adversarially trained classifier (fmnist-at), undefended", _at),
    "smoothing": DefenseInfo(f"median smoothing, {SMOOTHING_KERNEL}×{SMOOTHING_KERNEL} kernel "
                             "(Xu et al. 2018)", _smoothing),
    "noise": DefenseInfo(f"random noise: Gaussian σ={NOISE_SIGMA} added to each query "
                         "(Qin et al. 2021)", _noise),
    "bitdepth": DefenseInfo(f"bit-depth reduction to {BIT_DEPTH} bits (Xu et al. 2018)",
                            _bit_depth),
    "jpeg": DefenseInfo(f"JPEG compression at quality {JPEG_QUALITY} (Raff et al. 2019)", _jpeg),
    "aaa": DefenseInfo("AAA-linear (Chen et al. 2022): the top-2 logit margin reversed inside "
                       "attractor intervals (τ 6, α 0.7), label kept", _aaa),
    "disco": DefenseInfo("DISCO, deterministic: one purifier (the PGD-trained member) on the "
                         "whole image", _disco),
    "disco-ensemble": DefenseInfo("DISCO's randomness: every purifier on the whole image, each "
                                  "pixel from one drawn at random (cost K)", _disco_ensemble),
    "matt": DefenseInfo("MATT: random patch-wise purification by the pool (runtime Pipeline)",
                        _matt(False)),
    "matt-at": DefenseInfo("MATT in front of the adversarially trained classifier",
                           _matt(True)),
    "remote": DefenseInfo("a live matt-serve server (--url), whatever it serves", _remote),
}


def build_defense(subject: EvalSubject, setting: DefenseSetting) -> TargetFactory:
    """The target factory for ``setting`` over ``subject``."""
    return DEFENSES[setting.name].build(subject, setting)
