"""The one TensorRT builder, driven through a recording stand-in for TensorRT's Python API.

TensorRT cannot be installed on these machines; this checks what the builder asks of it (the
profile, the precision flags, the timing cache) and how failures reach the two callers.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from matt.errors import BackendUnavailable, ExportError
from matt.export.engine_shapes import ShapeRange
from matt.export.tensorrt import build_engine
from matt.runtime.engines.trt_engine import build_serialized

SHAPES = ((1, 3, 16, 16), (4, 3, 16, 16), (16, 3, 16, 16))


class _Config:
    def __init__(self, log):
        self.log = log

    def add_optimization_profile(self, profile):
        self.log.append(("profile", profile.shapes))

    def set_flag(self, flag):
        self.log.append(("set", flag))

    def clear_flag(self, flag):
        self.log.append(("clear", flag))

    def create_timing_cache(self, data):
        self.log.append(("cache-in", bytes(data)))
        return data

    def set_timing_cache(self, cache, ignore_mismatch):
        return True

    def get_timing_cache(self):
        return SimpleNamespace(serialize=lambda: b"timings")


def fake_tensorrt(log, parses=True, builds=True):
    """The parts of ``tensorrt`` the builder uses; every call is appended to ``log``."""
    profile = SimpleNamespace(shapes=None)

    def set_shape(name, *shapes):
        profile.shapes = (name, *shapes)

    profile.set_shape = set_shape
    parser = SimpleNamespace(parse_from_file=lambda path: parses, num_errors=1,
                             get_error=lambda i: "unsupported operator GridSample")
    builder = SimpleNamespace(
        create_network=lambda flags: "network",
        create_builder_config=lambda: _Config(log),
        create_optimization_profile=lambda: profile,
        build_serialized_network=lambda network, config: b"engine" if builds else None)

    def logger(level):
        return "logger"

    logger.WARNING = 2
    return SimpleNamespace(
        Logger=logger, Builder=lambda logger: builder, OnnxParser=lambda network, logger: parser,
        BuilderFlag=SimpleNamespace(FP16="FP16", INT8="INT8", TF32="TF32"))


@pytest.mark.parametrize(("precision", "flags"), [
    ("fp32", [("clear", "TF32")]),
    ("fp16", [("set", "FP16")]),
    ("int8", [("set", "FP16"), ("set", "INT8")]),
])
def test_precision_sets_its_flags_and_fp32_keeps_tf32_off(tmp_path, precision, flags):
    log = []
    engine = build_serialized(fake_tensorrt(log), tmp_path / "p0.onnx", "images", SHAPES,
                              precision)
    assert engine == b"engine"
    assert ("profile", ("images", *SHAPES)) in log
    assert [entry for entry in log if entry[0] in ("set", "clear")] == flags


def test_the_timing_cache_is_read_and_written_back(tmp_path):
    cache = tmp_path / "cache" / "tensorrt.timing-cache"
    log = []
    build_serialized(fake_tensorrt(log), tmp_path / "p0.onnx", "images", SHAPES, "fp16", cache)
    assert ("cache-in", b"") in log and cache.read_bytes() == b"timings"
    build_serialized(fake_tensorrt(log), tmp_path / "p0.onnx", "images", SHAPES, "fp16", cache)
    assert ("cache-in", b"timings") in log


def test_failures_name_the_model_for_the_runtime_and_for_the_export(tmp_path, monkeypatch):
    with pytest.raises(BackendUnavailable, match=r"p0\.onnx: TensorRT's ONNX parser failed: "
                                                 "unsupported operator GridSample"):
        build_serialized(fake_tensorrt([], parses=False), tmp_path / "p0.onnx", "images",
                         SHAPES, "fp32")
    monkeypatch.setattr("matt.export.tensorrt._import_tensorrt",
                        lambda: fake_tensorrt([], builds=False))
    plan = tmp_path / "p0.fp16.plan"
    with pytest.raises(ExportError, match=r"p0\.onnx: TensorRT could not build a fp16 engine"):
        build_engine(tmp_path / "p0.onnx", plan, ShapeRange("images", *SHAPES), "fp16", None)
    assert not plan.exists()


def test_the_export_writes_the_engine_it_built(tmp_path, monkeypatch):
    monkeypatch.setattr("matt.export.tensorrt._import_tensorrt", lambda: fake_tensorrt([]))
    plan = tmp_path / "p0.fp16.plan"
    build_engine(tmp_path / "p0.onnx", plan, ShapeRange("images", *SHAPES), "fp16", None)
    assert plan.read_bytes() == b"engine"
