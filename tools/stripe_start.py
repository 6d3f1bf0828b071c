"""How a pool answers Square's first move: the ±ε stripe start on the evaluation images.

    .venv/bin/python tools/stripe_start.py WEIGHTS [--images 200] [--patterns 4] [--draws 10]
    .venv/bin/python tools/stripe_start.py WEIGHTS --purifiers RUN/members/*/purifier.pt

For each evaluation image (``matt-eval``'s set, selection seed 0), ``--patterns`` stripe
starts x + ε·s (s = ±1 per column and channel, Square's initialisation); each member alone,
then the whole pool (``--draws`` fresh draws). Prints accuracies and the pool's wrong-answer
rate per draw: the rate at which the online rule loses images at Square's second query. With
``--purifiers``, those purifier files (e.g. pilot members) in front of WEIGHTS' classifier
instead, each with its clean accuracy on the same images.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from matt.attacks.threat import DATASET_EPSILONS
from matt.errors import MattError
from matt.evaluation.dataset import evaluation_set
from matt.evaluation.subject import resolve_subject
from matt.runtime import Pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--patterns", type=int, default=4)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--purifiers", nargs="+", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        subject = resolve_subject(args.weights)
    except MattError as error:
        sys.exit(f"error: {error}")
    classifier = subject.classifier.eval()

    def bare(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(classifier(torch.from_numpy(images)), 1).numpy()

    eval_set = evaluation_set(subject, bare, args.images, 0)
    epsilon = DATASET_EPSILONS[subject.dataset]["linf"]
    rng = np.random.default_rng(1)
    images, labels = eval_set.images, eval_set.labels
    count, channels, _, width = images.shape
    starts = np.concatenate([
        np.clip(images + epsilon * rng.choice([-1, 1], size=(count, channels, 1, width)), 0, 1)
        for _ in range(args.patterns)]).astype(np.float32)
    truth = np.tile(labels, args.patterns)
    print(f"{eval_set.description}; {args.patterns} stripe starts each, ε {epsilon}")
    print(f"classifier alone: {(bare(starts).argmax(1) == truth).mean():.4f}")
    if args.purifiers:
        _purifier_files(args.purifiers, classifier, starts, truth, images, labels)
        return
    with torch.no_grad():
        for member, purifier in zip(subject.weights.pool, subject.pool, strict=True):
            purified = purifier.eval()(torch.from_numpy(starts)).clamp(0, 1)
            right = (classifier(purified).argmax(1).numpy() == truth).mean()
            print(f"  {member.name}: {right:.4f}")
    pipeline = Pipeline.from_weights(subject.weights)
    wrong = np.mean([pipeline.predict(starts).argmax(1) != truth for _ in range(args.draws)],
                    axis=0)
    print(f"pool, {args.draws} draws: wrong per draw {wrong.mean():.4f}; ever wrong "
          f"{(wrong > 0).mean():.4f}; always wrong {(wrong == 1).mean():.4f}")


def _purifier_files(paths: list[str], classifier: torch.nn.Module, starts: np.ndarray,
                    truth: np.ndarray, images: np.ndarray, labels: np.ndarray) -> None:
    from matt.models import build_purifier
    from matt.training.artifacts import load_purifier

    with torch.no_grad():
        for path in paths:
            member = load_purifier(path)
            purifier = build_purifier(member.spec)
            purifier.load_state_dict(member.state_dict)
            purifier.eval()
            stripes = (classifier(purifier(torch.from_numpy(starts)).clamp(0, 1)).argmax(1)
                       .numpy() == truth).mean()
            clean = (classifier(purifier(torch.from_numpy(images)).clamp(0, 1)).argmax(1)
                     .numpy() == labels).mean()
            print(f"  {path}: stripe start {stripes:.4f}, clean {clean:.4f}")


if __name__ == "__main__":
    main()
