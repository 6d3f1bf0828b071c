"""AAA keeps every label and reverses the margin inside each attractor interval (its
behaviour under attack: tests/evaluation/test_baselines_attacked.py)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from matt.defense import AaaLinear
from matt.errors import SpecError


@given(st.lists(st.floats(-30, 30), min_size=4, max_size=4), st.integers(0, 3))
@settings(max_examples=80, deadline=None)
def test_aaa_never_changes_the_label(values, _):
    logits = torch.tensor([values], dtype=torch.float32)
    assert AaaLinear()(logits).argmax(1).item() == logits.argmax(1).item()


def test_within_an_interval_the_output_margin_moves_against_the_input():
    aaa = AaaLinear(interval=6.0, reverse_step=0.7)
    margins = torch.tensor([6.5, 7.5, 8.5, 9.5, 10.5])  # one interval [6, 12)
    logits = torch.stack([margins, torch.zeros(5), torch.full((5,), -1.0)], dim=1)
    out = aaa(logits)
    shown = out[:, 0] - out[:, 1]
    assert (torch.diff(shown) < 0).all(), "a lower true margin shows a higher one"
    assert torch.equal(out[:, 1:], logits[:, 1:])


def test_bad_settings_are_refused():
    with pytest.raises(SpecError):
        AaaLinear(reverse_step=1.5)
