"""The fused TensorRT engine, driven through stand-ins for TensorRT and cuda-python.

TensorRT cannot be installed here; the stand-ins keep real host memory behind every pointer,
so this checks what the runner asks of TensorRT (every input's shape, 0 for a member not
drawn; one enqueue per call; chunks above the capacity) and that outputs come back to the
right pool positions.
"""

from __future__ import annotations

import ctypes
from types import SimpleNamespace

import numpy as np
import pytest

from matt.errors import BundleError, InputError
from matt.runtime.engines import trt_engine, trt_fused

SUCCESS = "cudaSuccess"


class _Cudart:
    """Real host memory behind every 'device' and pinned pointer; copies are memmoves."""

    cudaError_t = SimpleNamespace(cudaSuccess=SUCCESS)
    cudaMemcpyKind = SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)
    cudaStreamNonBlocking = 1

    def __init__(self) -> None:
        self.blocks: dict[int, ctypes.Array] = {}

    def _alloc(self, size):
        block = ctypes.create_string_buffer(max(1, size))
        self.blocks[ctypes.addressof(block)] = block
        return SUCCESS, ctypes.addressof(block)

    cudaMalloc = cudaMallocHost = _alloc

    def cudaMemcpyAsync(self, dst, src, size, kind, stream):
        ctypes.memmove(int(dst), int(src), size)
        return (SUCCESS,)

    def _ok(self, *args):
        return (SUCCESS,)

    cudaSetDevice = cudaStreamSynchronize = cudaFree = cudaFreeHost = cudaStreamDestroy = _ok

    def cudaStreamCreateWithFlags(self, flags):
        return SUCCESS, 7


class _Context:
    """Member i multiplies its windows by i + 1, reading and writing through the addresses."""

    def __init__(self, item):
        self.item, self.shapes, self.addresses, self.runs = item, {}, {}, []

    def set_input_shape(self, name, shape):
        self.shapes[name] = tuple(shape)

    def get_tensor_shape(self, name):
        return self.shapes[name.replace("purified", "images")]

    def set_tensor_address(self, name, address):
        self.addresses[name] = address

    def execute_async_v3(self, stream):
        self.runs.append(dict(self.shapes))
        for name, shape in self.shapes.items():
            member = int(name.split("_")[1])
            count = int(np.prod(shape))
            if count == 0:
                continue
            source = np.ctypeslib.as_array((ctypes.c_float * count).from_address(
                self.addresses[name]))
            target = np.ctypeslib.as_array((ctypes.c_float * count).from_address(
                self.addresses[f"purified_{member}"]))
            target[:] = source * (member + 1)
        return True


@pytest.fixture
def stand_ins(monkeypatch):
    cudart = _Cudart()
    modules = lambda: (SimpleNamespace(), cudart)  # noqa: E731
    monkeypatch.setattr(trt_engine, "_modules", modules)
    monkeypatch.setattr(trt_fused, "_modules", modules)
    return cudart


def _runner(item, capacity, pool_indices=(2, 0), members=3):
    context = _Context(item)
    engine = SimpleNamespace(create_execution_context=lambda: context)
    runner = trt_fused.FusedTensorRTRunner("runtime", engine, "fused.onnx", members,
                                           pool_indices, item, capacity, 0)
    return runner, context


def test_one_enqueue_for_the_pool_and_empty_members_get_batch_zero(stand_ins):
    item = (3, 4, 4)
    runner, context = _runner(item, capacity=8)
    rng = np.random.default_rng(0)
    first, second = rng.random((2, *item), dtype=np.float32), rng.random((5, *item),
                                                                         dtype=np.float32)
    out_first, out_second = runner.run_members([(0, first), (1, second)])
    assert len(context.runs) == 1
    assert context.runs[0] == {"images_0": (5, *item), "images_1": (0, *item),
                               "images_2": (2, *item)}
    np.testing.assert_allclose(out_first, first * 3)  # pool position 0 is member 2
    np.testing.assert_allclose(out_second, second * 1)
    runner.close()
    assert runner.buffers == []


def test_more_windows_than_the_buffers_hold_run_in_chunks(stand_ins):
    item = (1, 2, 2)
    runner, context = _runner(item, capacity=4, pool_indices=(0, 1), members=2)
    windows = np.arange(9 * 4, dtype=np.float32).reshape(9, *item)
    few = np.ones((2, *item), np.float32)
    out_many, out_few = runner.run_members([(0, windows), (1, few)])
    assert [run["images_0"][0] for run in context.runs] == [4, 4, 1]
    assert [run["images_1"][0] for run in context.runs] == [2, 0, 0]
    np.testing.assert_allclose(out_many, windows)
    np.testing.assert_allclose(out_few, few * 2)


def test_a_window_of_another_shape_is_refused(stand_ins):
    runner, _ = _runner((3, 4, 4), capacity=4)
    with pytest.raises(InputError, match="built for items of shape"):
        runner.run_members([(0, np.zeros((1, 3, 5, 5), np.float32))])


def test_the_profile_lets_every_member_run_empty():
    profile = trt_fused.fused_profile(3, (3, 16, 16), capacity=1024, pool_size=12)
    assert list(profile) == ["images_0", "images_1", "images_2"]
    for low, opt, high in profile.values():
        assert low == (0, 3, 16, 16) and high == (1024, 3, 16, 16) and opt[0] == 22
    with pytest.raises(InputError):
        trt_fused.fused_profile(0, (3, 16, 16), 8, 1)


def test_open_fused_needs_the_fused_graph_and_a_float_precision():
    bundle = SimpleNamespace(root="b", fused_path=lambda variant: None,
                             manifest=SimpleNamespace(purifiers=()))
    with pytest.raises(BundleError, match="no fused fp32 graph"):
        trt_fused.open_fused(bundle, (0,), "fp16", "cuda:0", (3, 8, 8), 4)
    with pytest.raises(InputError, match="int8"):
        trt_fused.open_fused(bundle, (0,), "int8", "cuda:0", (3, 8, 8), 4)


def test_the_builder_sets_one_profile_shape_per_input(tmp_path):
    from tests.runtime.test_trt_builder import fake_tensorrt

    calls = []
    trt = fake_tensorrt([])
    profile = trt.Builder(None).create_optimization_profile()
    profile.set_shape = lambda name, *shapes: calls.append((name, shapes))
    shapes = trt_fused.fused_profile(2, (3, 8, 8), 16, 2)
    assert trt_engine.build_serialized_profile(trt, tmp_path / "f.onnx", shapes, "fp16") == \
        b"engine"
    assert calls == [(name, value) for name, value in shapes.items()]
