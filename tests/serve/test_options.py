"""Serving options are validated when built, with a message naming the option."""

import pytest

from matt.errors import SpecError
from matt.serve.options import CLASSIFY, PURIFY, UNDEFENDED, ServeOptions


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("backend", "cuda-magic", "backend"),
    ("output", "logits", "output"),
    ("max_batch", 0, "max_batch"),
    ("max_queue_delay_us", -1, "max_queue_delay_us"),
    ("instances", 0, "instances"),
    ("instances", 1.5, "instances"),
    ("threads", -2, "threads"),
    ("max_picture_bytes", 0, "max_picture_bytes"),
    ("max_picture_pixels", True, "max_picture_pixels"),
    ("max_body_bytes", 100, "max_body_bytes"),
    ("body_timeout_s", 0, "body_timeout_s"),
])
def test_bad_values_are_refused(field, value, needle):
    with pytest.raises(SpecError, match=needle):
        ServeOptions(**{field: value})


def test_only_the_defended_model_unless_asked_for():
    assert ServeOptions().tasks == (CLASSIFY,)
    assert ServeOptions(expose_purify=True).tasks == (CLASSIFY, PURIFY)
    assert UNDEFENDED in ServeOptions(expose_undefended=True).tasks


def test_default_limits_meet_the_figures():
    options = ServeOptions()
    assert options.body_timeout_s <= 30  # a 1 byte/s body is cut within 30 s
    assert options.max_body_bytes <= 64 << 20
