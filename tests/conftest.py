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
