"""Shared fixtures: small purifier pools with random weights, deterministic per test."""

from __future__ import annotations

import pytest
import torch

from matt.models import PurifierSpec, build_purifier

SMALL_SPECS = [
    PurifierSpec(encoder="edsr", features=8, blocks=1, decoder_widths=(16,)),
    PurifierSpec(encoder="rcan", features=8, blocks=1, decoder_widths=(16, 16),
                 attention_reduction=4, attention_window=3),
]


def make_pool(count: int, channels: int = 3, seed: int = 0) -> list[torch.nn.Module]:
    """``count`` small purifiers with distinct random weights, alternating encoders."""
    torch.manual_seed(seed)
    pool = []
    for index in range(count):
        base = SMALL_SPECS[index % len(SMALL_SPECS)]
        spec = PurifierSpec(**{**base.to_dict(), "channels": channels,
                               "decoder_widths": tuple(base.decoder_widths)})
        pool.append(build_purifier(spec).eval())
    return pool


@pytest.fixture
def pool4() -> list[torch.nn.Module]:
    return make_pool(4)


def make_weights(
    channels: int = 3, size: int = 32, pool_size: int = 3, seed: int = 0, dataset: str = "cifar10"
):
    """A complete ``WeightsFile`` with random weights: stands in for a trained bundle in tests."""
    from matt.models import ClassifierSpec, build_classifier
    from matt.training.weights import PoolMember, TilingDefaults, WeightsFile

    pool = make_pool(pool_size, channels=channels, seed=seed)
    classifier_spec = ClassifierSpec("resnet", num_classes=10, channels=channels, width=8,
                                     blocks=1)
    torch.manual_seed(seed)
    classifier = build_classifier(classifier_spec).eval()
    halo = max(p.spec.receptive_radius for p in pool)
    return WeightsFile(
        dataset=dataset, input_shape=(channels, size, size),
        class_names=tuple(f"class{i}" for i in range(10)),
        tiling=TilingDefaults(patch=8, halo=halo),
        classifier_spec=classifier_spec, classifier_state=classifier.state_dict(),
        pool=[PoolMember(f"p{i}", p.spec, p.state_dict(), {"attack": "random"})
              for i, p in enumerate(pool)],
        provenance={"data": "random init (test fixture)"},
    )


@pytest.fixture
def weights_path(tmp_path):
    """A random-init ``weights.pt`` (RGB 32×32, pool of 3) written to a temporary folder."""
    from matt.training.weights import save_weights

    return save_weights(make_weights(), tmp_path / "weights.pt")


def run_cli(monkeypatch, capsys, prog: str, main, *args: object) -> tuple[int, str, str]:
    """``prog ARGS`` through its click ``main`` in process: (exit code, stdout, stderr)."""
    import sys

    monkeypatch.setattr(sys, "argv", [prog, *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_matt_train(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``matt-train ARGS`` in process: (exit code, stdout, stderr)."""
    from matt.training import cli

    return run_cli(monkeypatch, capsys, "matt-train", cli.main, *args)
