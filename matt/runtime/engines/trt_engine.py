"""TensorRT 10 engines: one execution context, one CUDA stream and fixed buffers per engine.

Each engine is the bundle's ``tensorrt-<precision>`` plan (written by ``matt-export --engine
tensorrt``) when its optimization profile covers the pipeline's window shape and it
deserializes on this GPU and TensorRT version; otherwise it is built at load time from the ONNX
graph (the FP32 graph for ``fp32`` / ``fp16``, the ``int8-symmetric`` Q/DQ graph for ``int8``),
with one profile over the batch. Device and pinned host buffers are allocated once and reused:
the hot path only copies, calls ``set_input_shape`` and ``execute_async_v3``. Buffers go
through cuda-python, so no torch.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matt.core.files import write_bytes_atomic
from matt.core.types import NDArray
from matt.errors import BackendUnavailable, BundleError, InputError
from matt.formats.bundle import (
    CLASSIFIER_INPUT,
    CLASSIFIER_OUTPUT,
    INT8_SYMMETRIC,
    PURIFIER_INPUT,
    PURIFIER_OUTPUT,
    Bundle,
    EngineVariant,
    ModelFile,
    engine_variant_name,
)
from matt.runtime.engines.base import Concurrency, Done, EngineSet, Pending, Runner, check_inputs

LOG = logging.getLogger("matt.runtime")
MAX_IMAGES_PER_CALL = 256
BUFFER_BYTES = 64 << 20  # per input buffer; larger batches run in chunks


def _modules() -> tuple[Any, Any]:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendUnavailable(f"tensorrt does not import ({exc})") from None
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python 12.x before cuda.bindings
        except ImportError as exc:
            raise BackendUnavailable(f"cuda-python does not import ({exc})") from None
    return trt, cudart


def _cuda(result: Any) -> Any:
    """Unwrap a cuda-python ``(error, value...)`` tuple, raising on an error."""
    _, cudart = _modules()
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != cudart.cudaError_t.cudaSuccess:
        raise BackendUnavailable(f"CUDA call failed: {error}")
    return values[0] if len(values) == 1 else values


class _Buffers:
    """Device input/output and pinned host input/output for ``capacity`` items."""

    def __init__(self, capacity: int, item_in: tuple[int, ...], item_out: tuple[int, ...]) -> None:
        _, cudart = _modules()
        self.capacity, self.item_in, self.item_out = capacity, item_in, item_out
        in_bytes = capacity * int(np.prod(item_in)) * 4
        out_bytes = capacity * int(np.prod(item_out)) * 4
        self.device_in = _cuda(cudart.cudaMalloc(in_bytes))
        self.device_out = _cuda(cudart.cudaMalloc(out_bytes))
        self.host_in_ptr = _cuda(cudart.cudaMallocHost(in_bytes))
        self.host_out_ptr = _cuda(cudart.cudaMallocHost(out_bytes))
        self.host_in = _pinned_array(self.host_in_ptr, (capacity, *item_in))
        self.host_out = _pinned_array(self.host_out_ptr, (capacity, *item_out))

    def free(self) -> None:
        _, cudart = _modules()
        for pointer in (self.device_in, self.device_out):
            cudart.cudaFree(pointer)
        for pointer in (self.host_in_ptr, self.host_out_ptr):
            cudart.cudaFreeHost(pointer)


def _pinned_array(pointer: int, shape: tuple[int, ...]) -> NDArray:
    count = int(np.prod(shape))
    raw = (ctypes.c_float * count).from_address(int(pointer))
    return np.ctypeslib.as_array(raw).reshape(shape)


class _TrtPending:
    """A run enqueued on the engine's stream; :meth:`wait` syncs and frees the engine."""

    def __init__(self, runner: TensorRTRunner, count: int) -> None:
        self.runner, self.count = runner, count

    def wait(self) -> NDArray:
        try:
            _, cudart = _modules()
            _cuda(cudart.cudaStreamSynchronize(self.runner.stream))
            return self.runner.buffers.host_out[: self.count].copy()
        finally:
            self.runner.lock.release()


class TensorRTRunner(Runner):
    """One deserialized engine with its context, stream and buffers for ``item_shape`` items.

    Thread-safe: the buffers and context belong to one run at a time; a lock is taken at
    :meth:`launch` and released by the pending run's ``wait``. The scheduler launches engines
    in pool order, so two callers never wait on each other in a cycle.
    """

    def __init__(self, runtime: Any, engine: Any, name: str, input_name: str, output_name: str,
                 item_shape: tuple[int, ...], device_index: int) -> None:
        _, cudart = _modules()
        self.name, self.input_name, self.output_name = name, input_name, output_name
        self.device_index = device_index
        _cuda(cudart.cudaSetDevice(device_index))
        self.runtime, self.engine = runtime, engine  # the runtime must outlive its engine
        self.context = engine.create_execution_context()
        self.stream = _cuda(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking))
        _, _, largest = engine.get_tensor_profile_shape(input_name, 0)
        item_bytes = 4 * int(np.prod(item_shape))
        capacity = max(1, min(int(largest[0]), BUFFER_BYTES // item_bytes))
        self.context.set_input_shape(input_name, (capacity, *item_shape))
        item_out = tuple(self.context.get_tensor_shape(output_name))[1:]
        self.buffers = _Buffers(capacity, tuple(item_shape), item_out)
        self.context.set_tensor_address(input_name, int(self.buffers.device_in))
        self.context.set_tensor_address(output_name, int(self.buffers.device_out))
        self.lock = threading.Lock()

    def launch(self, inputs: NDArray) -> Pending:
        check_inputs(self.name, inputs)
        if tuple(inputs.shape[1:]) != self.buffers.item_in:
            raise InputError(f"{self.name}: the engine was built for items of shape "
                                     f"{self.buffers.item_in}, got {tuple(inputs.shape[1:])}")
        if inputs.shape[0] > self.buffers.capacity:
            return Done(self._run(inputs))
        self.lock.acquire()
        try:
            self._enqueue(inputs)
        except BaseException:
            self.lock.release()
            raise
        return _TrtPending(self, inputs.shape[0])

    def _enqueue(self, inputs: NDArray) -> None:
        _, cudart = _modules()
        count, buffers = inputs.shape[0], self.buffers
        _cuda(cudart.cudaSetDevice(self.device_index))  # the current device is per thread
        np.copyto(buffers.host_in[:count], inputs)
        kind = cudart.cudaMemcpyKind
        _cuda(cudart.cudaMemcpyAsync(buffers.device_in, buffers.host_in_ptr, inputs.nbytes,
                                     kind.cudaMemcpyHostToDevice, self.stream))
        self.context.set_input_shape(self.input_name, tuple(inputs.shape))
        if not self.context.execute_async_v3(int(self.stream)):
            raise BackendUnavailable(f"{self.name}: TensorRT execution failed")
        out_bytes = count * int(np.prod(buffers.item_out)) * 4
        _cuda(cudart.cudaMemcpyAsync(buffers.host_out_ptr, buffers.device_out, out_bytes,
                                     kind.cudaMemcpyDeviceToHost, self.stream))

    def _run(self, inputs: NDArray) -> NDArray:
        """More items than the buffers hold: run in chunks of ``capacity``, one at a time."""
        step = self.buffers.capacity
        return np.concatenate([self.launch(inputs[start:start + step]).wait()
                               for start in range(0, inputs.shape[0], step)])

    def close(self) -> None:
        if getattr(self, "buffers", None) is None:
            return
        _, cudart = _modules()
        with self.lock:
            cudart.cudaStreamSynchronize(self.stream)
            self.buffers.free()
            cudart.cudaStreamDestroy(self.stream)
            self.buffers = None  # type: ignore[assignment]
            self.context = self.engine = None


@dataclass(frozen=True)
class EngineSource:
    """Where one engine comes from: a prebuilt plan (with its profile) or an ONNX graph."""

    name: str
    onnx: Path
    plan: Path | None = None
    variant: EngineVariant | None = None

    def plan_covers(self, item_shape: tuple[int, ...]) -> bool:
        return self.plan is not None and self.variant is not None and \
            self.variant.covers_items(item_shape)


def _source(bundle: Bundle, model: ModelFile, precision: str) -> EngineSource:
    plan = model.variants.get(engine_variant_name(precision))
    onnx_variant = INT8_SYMMETRIC if precision == "int8" else None
    if onnx_variant is not None and onnx_variant not in model.variants and plan is None:
        raise BundleError(f"{bundle.root}: {model.name} has no {onnx_variant} graph or INT8 "
                          "engine; export with matt-export --precision int8")
    onnx = bundle.path(model.variants[onnx_variant].file
                       if onnx_variant is not None and onnx_variant in model.variants
                       else model.file)
    if plan is None:
        return EngineSource(model.name, onnx)
    engine = plan if isinstance(plan, EngineVariant) else None
    return EngineSource(model.name, onnx, bundle.path(plan.file), engine)


def _engine(runtime: Any, source: EngineSource, input_name: str, item_shape: tuple[int, ...],
            capacity: int, precision: str) -> Any:
    """Deserialize the bundle's plan when it fits here, else build one from ONNX."""
    if source.plan is not None and source.plan_covers(item_shape):
        engine = runtime.deserialize_cuda_engine(source.plan.read_bytes())
        if engine is not None:
            return engine
        LOG.warning("%s: the bundle's TensorRT plan does not run on this GPU or TensorRT "
                    "version; building one", source.name)
    LOG.info("building a TensorRT %s engine for %s (items %s)", precision, source.name,
             item_shape)
    typical = max(1, capacity // 4)
    shapes = ((1, *item_shape), (typical, *item_shape), (capacity, *item_shape))
    serialized = build_serialized(_modules()[0], source.onnx, input_name, shapes, precision)
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise BackendUnavailable(f"{source.name}: TensorRT could not deserialize its engine")
    return engine


Shapes = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def build_serialized(trt: Any, onnx_path: Path, input_name: str, profile_shapes: Shapes,
                     precision: str, timing_cache: Path | None = None) -> bytes:
    """Build an engine from ONNX with one optimization profile (min, opt, max shapes)."""
    return build_serialized_profile(trt, onnx_path, {input_name: profile_shapes}, precision,
                                    timing_cache)


def build_serialized_profile(trt: Any, onnx_path: Path, profile_shapes: dict[str, Shapes],
                             precision: str, timing_cache: Path | None = None) -> bytes:
    """Build an engine from ONNX with one optimization profile over every named input
    (min, opt, max shapes each; the fused graph has one input per pool member).

    The one TensorRT builder: the runtime calls it when a bundle has no plan that fits, and
    ``matt-export`` for the plans it ships. FP16 engines may use FP16, INT8 engines FP16 and
    INT8 (the graph's Q/DQ nodes give the scales); FP32 engines keep TF32 off, which would cost
    the parity with the CPU. ``timing_cache`` is read before the build when it exists and
    written back after it.

    Raises:
        BackendUnavailable: the parser or the builder failed; the message names the model.
    """
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: every network has an explicit batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendUnavailable(f"{onnx_path.name}: TensorRT's ONNX parser failed: "
                                 f"{errors[:300]}")
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    for input_name, shapes in profile_shapes.items():
        profile.set_shape(input_name, *shapes)
    config.add_optimization_profile(profile)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
    if precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)
    if timing_cache is not None:
        cached = timing_cache.read_bytes() if timing_cache.is_file() else b""
        if not config.set_timing_cache(config.create_timing_cache(cached),
                                       ignore_mismatch=False):
            config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendUnavailable(f"{onnx_path.name}: TensorRT could not build a {precision} "
                                 "engine (its log above says why)")
    if timing_cache is not None:
        timing_cache.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(timing_cache, memoryview(config.get_timing_cache().serialize()))
    return bytes(serialized)


def window_capacity(window_shape: tuple[int, ...], patches_per_image: int) -> int:
    """Windows one engine's buffers hold: a request of the largest batch, within the bytes."""
    return max(1, min(MAX_IMAGES_PER_CALL * patches_per_image,
                      BUFFER_BYTES // (4 * int(np.prod(window_shape)))))


def open_engines(bundle: Bundle, pool_indices: tuple[int, ...], precision: str, device: str,
                 window_shape: tuple[int, int, int], patches_per_image: int) -> EngineSet:
    """One engine per selected purifier and one for the classifier, each with its stream."""
    trt, cudart = _modules()
    index = int(device.split(":")[1])
    _cuda(cudart.cudaSetDevice(index))
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    manifest = bundle.manifest
    capacity = window_capacity(window_shape, patches_per_image)
    image_capacity = max(1, min(MAX_IMAGES_PER_CALL,
                                BUFFER_BYTES // (4 * int(np.prod(manifest.input_shape)))))
    purifiers = []
    for i in pool_indices:
        source = _source(bundle, manifest.purifiers[i], precision)
        engine = _engine(runtime, source, PURIFIER_INPUT, window_shape, capacity, precision)
        purifiers.append(TensorRTRunner(runtime, engine, source.name, PURIFIER_INPUT,
                                        PURIFIER_OUTPUT, window_shape, index))
    source = _source(bundle, manifest.classifier, precision)
    engine = _engine(runtime, source, CLASSIFIER_INPUT, manifest.input_shape, image_capacity,
                     precision)
    classifier = TensorRTRunner(runtime, engine, source.name, CLASSIFIER_INPUT, CLASSIFIER_OUTPUT,
                                manifest.input_shape, index)
    description = (f"tensorrt {trt.__version__} on {device} (one context and stream per "
                   f"engine, streams, {precision})")
    return EngineSet(purifiers, classifier, Concurrency.STREAMS, description)
