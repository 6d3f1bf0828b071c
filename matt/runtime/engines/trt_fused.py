"""The fused graph as one TensorRT 10 engine: one ``execute_async_v3`` per query for the pool.

The bundle's fused ONNX graph (every member, input ``images_<i>`` and output ``purified_<i>``
each) is built at load into one engine whose one optimization profile lets every input's
batch run from 0 (a member not drawn: an empty tensor, which TensorRT supports) to the window
capacity. One execution context and one CUDA stream; per member, device and pinned host
buffers allocated once. A call copies the drawn members' windows in, sets every input's shape
(0 for the others), enqueues the engine once, copies the drawn members' outputs back and
synchronizes. Written against TensorRT 10's API and cuda-python; TensorRT cannot be installed
where this was written, so it is tested against a stand-in (``tests/runtime/test_trt_fused.py``)
and is not ``auto``'s choice: ``Pipeline.load(..., backend="tensorrt", fused="on")``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from matt.core.types import NDArray
from matt.errors import BackendUnavailable, BundleError, InputError
from matt.formats.bundle import FUSED_INPUT, FUSED_OUTPUT, Bundle
from matt.runtime.engines.base import FusedRunner
from matt.runtime.engines.trt_engine import (
    Shapes,
    _Buffers,
    _cuda,
    _modules,
    build_serialized_profile,
    window_capacity,
)


def fused_profile(members: int, item_shape: tuple[int, ...], capacity: int,
                  pool_size: int) -> dict[str, Shapes]:
    """Every member's input: batch 0 … ``capacity``, tuned for an even share of the pool."""
    if members < 1 or capacity < 1 or pool_size < 1:
        raise InputError(f"fused profile: members, capacity and pool size must be >= 1, got "
                         f"{members}, {capacity}, {pool_size}")
    share = max(1, -(-capacity // (4 * pool_size)))
    return {FUSED_INPUT.format(index=i): ((0, *item_shape), (share, *item_shape),
                                          (capacity, *item_shape)) for i in range(members)}


class FusedTensorRTRunner(FusedRunner):
    """One engine holding the pool; one run at a time per runner (a lock), like
    :class:`~matt.runtime.engines.trt_engine.TensorRTRunner`."""

    def __init__(self, runtime: Any, engine: Any, name: str, members: int,
                 pool_indices: tuple[int, ...], item_shape: tuple[int, ...], capacity: int,
                 device_index: int) -> None:
        _, cudart = _modules()
        self.name, self.device_index = name, device_index
        self.pool_indices, self.item_shape, self.capacity = pool_indices, item_shape, capacity
        _cuda(cudart.cudaSetDevice(device_index))
        self.runtime, self.engine = runtime, engine
        self.context = engine.create_execution_context()
        self.stream = _cuda(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking))
        self.inputs = [FUSED_INPUT.format(index=i) for i in range(members)]
        self.outputs = [FUSED_OUTPUT.format(index=i) for i in range(members)]
        self.buffers: list[_Buffers] = []
        for name_in, name_out in zip(self.inputs, self.outputs, strict=True):
            self.context.set_input_shape(name_in, (capacity, *item_shape))
            item_out = tuple(self.context.get_tensor_shape(name_out))[1:]
            buffers = _Buffers(capacity, tuple(item_shape), item_out)
            self.buffers.append(buffers)
            self.context.set_tensor_address(name_in, int(buffers.device_in))
            self.context.set_tensor_address(name_out, int(buffers.device_out))
        self.lock = threading.Lock()

    def _run_members(self, batches: Sequence[tuple[int, NDArray]]) -> list[NDArray]:
        for _, inputs in batches:
            if tuple(inputs.shape[1:]) != self.item_shape:
                raise InputError(f"{self.name}: the engine was built for items of shape "
                                 f"{self.item_shape}, got {tuple(inputs.shape[1:])}")
        if max(len(inputs) for _, inputs in batches) > self.capacity:
            return self._in_chunks(batches)
        _, cudart = _modules()
        kind = cudart.cudaMemcpyKind
        given = {self.pool_indices[position]: inputs for position, inputs in batches}
        with self.lock:
            _cuda(cudart.cudaSetDevice(self.device_index))
            for member, name in enumerate(self.inputs):
                member_inputs = given.get(member)
                count = 0 if member_inputs is None else len(member_inputs)
                if member_inputs is not None:
                    buffers = self.buffers[member]
                    np.copyto(buffers.host_in[:count], member_inputs)
                    _cuda(cudart.cudaMemcpyAsync(buffers.device_in, buffers.host_in_ptr,
                                                 member_inputs.nbytes, kind.cudaMemcpyHostToDevice,
                                                 self.stream))
                self.context.set_input_shape(name, (count, *self.item_shape))
            if not self.context.execute_async_v3(int(self.stream)):
                raise BackendUnavailable(f"{self.name}: TensorRT execution failed")
            for member, inputs in given.items():
                buffers = self.buffers[member]
                nbytes = len(inputs) * int(np.prod(buffers.item_out)) * 4
                _cuda(cudart.cudaMemcpyAsync(buffers.host_out_ptr, buffers.device_out, nbytes,
                                             kind.cudaMemcpyDeviceToHost, self.stream))
            _cuda(cudart.cudaStreamSynchronize(self.stream))
            return [self.buffers[self.pool_indices[position]].host_out[:len(inputs)].copy()
                    for position, inputs in batches]

    def _in_chunks(self, batches: Sequence[tuple[int, NDArray]]) -> list[NDArray]:
        """A member with more windows than the buffers hold: calls of ``capacity`` each."""
        pieces: list[list[NDArray]] = [[] for _ in batches]
        for start in range(0, max(len(inputs) for _, inputs in batches), self.capacity):
            part = [(i, position, inputs[start:start + self.capacity])
                    for i, (position, inputs) in enumerate(batches)
                    if len(inputs) > start]
            outputs = self._run_members([(position, chunk) for _, position, chunk in part])
            for (i, _, _), output in zip(part, outputs, strict=True):
                pieces[i].append(output)
        return [np.concatenate(chunks) for chunks in pieces]

    def close(self) -> None:
        if not self.buffers:
            return
        _, cudart = _modules()
        with self.lock:
            cudart.cudaStreamSynchronize(self.stream)
            for buffers in self.buffers:
                buffers.free()
            cudart.cudaStreamDestroy(self.stream)
            self.buffers = []
            self.context = self.engine = None


def open_fused(bundle: Bundle, pool_indices: tuple[int, ...], precision: str, device: str,
               window_shape: tuple[int, int, int],
               patches_per_image: int) -> FusedTensorRTRunner:
    """Build the fused engine from the bundle's fused FP32 graph (FP16/FP32 engines)."""
    if precision == "int8":
        raise InputError("the fused TensorRT engine is built for fp32 and fp16; int8 runs one "
                         "engine per member (fused='off')")
    path = bundle.fused_path("fp32")
    if path is None:
        raise BundleError(f"{bundle.root}: no fused fp32 graph; export the bundle again with "
                          "this matt-export (--fused)")
    members = len(bundle.manifest.purifiers)
    capacity = window_capacity(window_shape, patches_per_image)
    profile = fused_profile(members, window_shape, capacity, len(pool_indices))
    trt, cudart = _modules()
    index = int(device.split(":")[1])
    _cuda(cudart.cudaSetDevice(index))
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(build_serialized_profile(trt, path, profile,
                                                                      precision))
    if engine is None:
        raise BackendUnavailable(f"{path.name}: TensorRT could not deserialize its engine")
    return FusedTensorRTRunner(runtime, engine, path.name, members, pool_indices,
                               window_shape, capacity, index)
