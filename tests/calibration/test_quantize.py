"""Static INT8 quantization: the Q/DQ graphs each consumer needs, close to FP32."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from matt.calibration import CPU_INT8, TENSORRT_INT8, quantize_onnx
from matt.calibration.int8 import window_batches
from matt.calibration.quality import ort_runner, psnr_db
from matt.errors import ExportError


def _calibration(count=32):
    images = np.random.default_rng(0).random((count, 3, 32, 32), dtype=np.float32)
    return window_batches(images, patch=8, halo=4, seed=0, max_windows=256, batch=64)


@pytest.fixture(scope="module")
def quantized(onnx_models):
    root = onnx_models["root"]
    paths = {}
    for scheme in (CPU_INT8, TENSORRT_INT8):
        paths[scheme.variant] = root / f"purifier.{scheme.variant}.onnx"
        quantize_onnx(onnx_models["purifier"], paths[scheme.variant], _calibration(), scheme)
    return paths


def _zero_points(path):
    model = onnx.load(str(path))
    initializers = {init.name: init for init in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    return [initializers[n.input[2]] for n in nodes], model


def test_cpu_scheme_is_u8_activations(quantized):
    zero_points, model = _zero_points(quantized["int8"])
    assert zero_points and {zp.data_type for zp in zero_points} == {TensorProto.UINT8}
    weights = [n for n in model.graph.node if n.op_type == "DequantizeLinear"
               and any(i.name == n.input[0] and i.data_type == TensorProto.INT8
                       for i in model.graph.initializer)]
    assert weights, "weights must be stored as int8 behind DequantizeLinear"
    per_channel = [n for n in weights if any(a.name == "axis" for a in n.attribute)
                   or len(numpy_helper.to_array(next(
                       i for i in model.graph.initializer if i.name == n.input[1]))
                          .reshape(-1)) > 1]
    assert per_channel


def test_tensorrt_scheme_is_symmetric_int8_at_conv_inputs(quantized):
    zero_points, model = _zero_points(quantized["int8-symmetric"])
    assert zero_points
    for zero_point in zero_points:
        assert zero_point.data_type == TensorProto.INT8
        assert not numpy_helper.to_array(zero_point).any()
    initializer_types = {i.name: i.data_type for i in model.graph.initializer}
    dequantized = [n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert TensorProto.INT32 not in {initializer_types.get(name) for name in dequantized}
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    dq_outputs = [n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert all("Conv" in consumers[name] for name in dq_outputs), "Q/DQ only at Conv inputs"


@pytest.mark.parametrize("variant", ["int8", "int8-symmetric"])
def test_quantized_purifier_stays_close_to_fp32(onnx_models, quantized, variant):
    images = np.random.default_rng(1).random((8, 3, 20, 20), dtype=np.float32)
    fp32 = ort_runner(onnx_models["purifier"])(images)
    int8 = ort_runner(quantized[variant])(images)
    assert int8.shape == fp32.shape
    assert psnr_db(fp32, int8) > 30


def test_quantizer_failure_names_the_model_and_leaves_nothing(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx graph")
    target = tmp_path / "broken.int8.onnx"
    with pytest.raises(ExportError, match=r"broken\.onnx"):
        quantize_onnx(broken, target, _calibration(4), CPU_INT8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.onnx"]


def test_no_calibration_images_is_an_error(onnx_models, tmp_path):
    with pytest.raises(ExportError, match="no calibration images"):
        quantize_onnx(onnx_models["purifier"], tmp_path / "x.onnx", [], CPU_INT8)


def test_window_batches_cut_the_bundle_windows():
    images = np.random.default_rng(0).random((10, 3, 32, 32), dtype=np.float32)
    batches = window_batches(images, patch=8, halo=4, seed=0, max_windows=100, batch=32)
    assert [len(b) for b in batches] == [32, 32, 32, 4]
    assert {b.shape[1:] for b in batches} == {(3, 16, 16)}
    everything = window_batches(images, patch=8, halo=4, seed=0, max_windows=10_000, batch=1000)
    assert sum(map(len, everything)) == 10 * 16
