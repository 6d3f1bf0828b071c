"""TensorRT engines: the manifest entries (no GPU needed) and real builds (GPU only)."""

import importlib.util
import shutil
from dataclasses import replace

import numpy as np
import pytest

from matt.bundle import MANIFEST, load_bundle
from matt.errors import ExportError
from matt.export import engines
from matt.export.options import ExportOptions
from matt.export.tensorrt import TensorRTTarget, default_timing_cache
from tests.export.conftest import invoke_cli

TARGET = TensorRTTarget("10.9.0", "NVIDIA H100 80GB HBM3", "9.0")


def _has_gpu_tensorrt() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed"
    from matt.export.tensorrt import _gpu

    return None if _gpu() is not None else "no CUDA GPU visible"


GPU_SKIP = _has_gpu_tensorrt()


@pytest.fixture
def bundle_copy(int8_export, tmp_path):
    _, bundle_dir, _ = int8_export
    copy = tmp_path / "bundle"
    shutil.copytree(bundle_dir, copy)
    return copy


def _stand_in_builder(calls):
    """Writes a placeholder plan instead of TensorRT's (which needs a GPU); records the call."""
    def build(onnx_path, plan_path, shapes, precision, timing_cache):
        calls.append((onnx_path.name, plan_path.name, shapes, precision))
        plan_path.write_bytes(b"plan of " + onnx_path.read_bytes()[:64])
    return build


@pytest.mark.parametrize(("precision", "source"), [("fp16", "fp32 graph"),
                                                  ("int8", "symmetric Q/DQ graph")])
def test_engines_are_listed_as_variants(bundle_copy, monkeypatch, precision, source):
    calls = []
    monkeypatch.setattr(engines, "build_engine", _stand_in_builder(calls))
    manifest = load_bundle(bundle_copy).manifest
    options = ExportOptions(engine="tensorrt", precision=precision, opt_images=4, max_images=8)
    manifest = engines.build_engines(bundle_copy, manifest, options, TARGET, lambda _: None)
    (bundle_copy / MANIFEST).write_text(manifest.to_json())
    bundle = load_bundle(bundle_copy)
    assert f"tensorrt-{precision}" in bundle.variants()
    assert len(calls) == len(manifest.purifiers) + 1
    assert all(call[3] == precision for call in calls)
    sources = {call[0].split(".", 1)[1] for call in calls}
    assert sources == ({"onnx"} if source == "fp32 graph" else {"int8-symmetric.onnx"})
    halo = manifest.halo
    for index, model in enumerate(manifest.purifiers):
        entry = model.variants[f"tensorrt-{precision}"]
        assert entry["file"] == f"purifiers/{model.name}.{precision}.plan"
        assert bundle.purifier_path(index, f"tensorrt-{precision}").is_file()
        assert entry["gpu_name"] == TARGET.gpu_name and entry["compute_capability"] == "9.0"
        assert entry["tensorrt_version"] == "10.9.0"
        assert entry["profile"]["opt"] == [4 * 16 // 2, 3, 8 + 2 * halo, 8 + 2 * halo]
        assert entry["profile"]["max"] == [8 * 16, 3, 32 + 2 * halo, 32 + 2 * halo]
    classifier = manifest.classifier.variants[f"tensorrt-{precision}"]
    assert classifier["profile"]["max"] == [8, 3, 32, 32]
    assert manifest.export["tensorrt"]["gpu_name"] == TARGET.gpu_name
    assert manifest.export["tensorrt"]["timing_cache"] == str(default_timing_cache())


def test_int8_engines_need_the_symmetric_graphs(bundle_copy, monkeypatch):
    monkeypatch.setattr(engines, "build_engine", _stand_in_builder([]))
    manifest = load_bundle(bundle_copy).manifest
    manifest = replace(manifest, purifiers=tuple(
        replace(model, variants={"int8": model.variants["int8"]})
        for model in manifest.purifiers))
    options = ExportOptions(engine="tensorrt", precision="int8")
    with pytest.raises(ExportError, match="int8-symmetric"):
        engines.build_engines(bundle_copy, manifest, options, TARGET, lambda _: None)


def test_timing_cache_defaults_under_xdg_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_timing_cache() == tmp_path / "matt" / "tensorrt.timing-cache"


@pytest.mark.gpu
@pytest.mark.skipif(GPU_SKIP is not None, reason=f"needs TensorRT and a CUDA GPU: {GPU_SKIP}")
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_tensorrt_engines_build_load_and_match_onnxruntime(random_weights, tmp_path, precision):
    import tensorrt as trt
    import torch

    from matt.calibration.quality import ort_runner

    out_dir = tmp_path / precision
    run = invoke_cli(random_weights, "-o", out_dir, "--engine", "tensorrt", "--precision",
                     precision, "--check-images", "16", "--calibration-images", "32",
                     "--timing-cache", tmp_path / "timing.cache", "--max-images", "4")
    assert run.exit_code == 0, run.stderr
    assert (tmp_path / "timing.cache").stat().st_size > 0
    bundle = load_bundle(out_dir)
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    images = np.random.default_rng(0).random((2, 3, 20, 20), dtype=np.float32)
    for index, model in enumerate(bundle.manifest.purifiers):
        entry = model.variants[f"tensorrt-{precision}"]
        assert entry["tensorrt_version"] == trt.__version__
        engine = runtime.deserialize_cuda_engine(
            bundle.purifier_path(index, f"tensorrt-{precision}").read_bytes())
        profile = [tuple(dims) for dims in engine.get_tensor_profile_shape("images", 0)]
        assert profile == [tuple(entry["profile"][k]) for k in ("min", "opt", "max")]
        if not torch.cuda.is_available():
            continue
        context = engine.create_execution_context()
        inputs = torch.from_numpy(images).cuda()
        outputs = torch.empty_like(inputs)
        context.set_input_shape("images", tuple(inputs.shape))
        context.set_tensor_address("images", inputs.data_ptr())
        context.set_tensor_address("purified", outputs.data_ptr())
        stream = torch.cuda.Stream()
        assert context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        expected = ort_runner(bundle.purifier_path(index))(images)
        np.testing.assert_allclose(outputs.cpu().numpy(), expected, atol=0.05)
