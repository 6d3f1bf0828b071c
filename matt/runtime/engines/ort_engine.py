"""ONNX Runtime engines: the CPU execution provider, or CUDA where onnxruntime-gpu and a GPU are.

No torch here: this is the serving path of a CPU deployment. Session options were chosen by
measurement on a 2-core CPU (``python -m matt.bench.tune``; numbers in ``docs/runtime.md``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from matt.core.types import NDArray
from matt.errors import BundleError, InputError
from matt.formats.bundle import (
    CLASSIFIER_INPUT,
    CLASSIFIER_OUTPUT,
    FUSED_INPUT,
    FUSED_OUTPUT,
    PURIFIER_INPUT,
    PURIFIER_OUTPUT,
)
from matt.runtime.engines.base import Concurrency, EngineSet, FusedRunner, Runner
from matt.runtime.precision import ModelSelection

OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True)
class SessionSettings:
    """ONNX Runtime session options, in one place so they can be measured and compared.

    The default runs every session on one thread and spreads the calls of a batch over a pool
    of host threads (one per CPU): no per-operator synchronisation, and the same CPU work for
    a pool of 12 as for a pool of 1 (measured in ``docs/runtime.md``).

    Attributes:
        intra_op_threads: threads one session uses inside an operator; 0 lets ONNX Runtime pick
            (one per physical core), for sequential engines.
        optimization: graph optimization level, a key of :data:`OPTIMIZATION_LEVELS`.
        spinning: whether idle intra-op threads spin; off, as the CPU is shared with the server.
        concurrency: how the scheduler runs the purifier sessions of one batch on the CPU.
        memory_arena: whether each session keeps its peak memory in an arena; off, so a pool
            of K sessions holds the memory of one call, not K peaks.
        workers: host threads of the pool (``None``: one per CPU).
    """

    intra_op_threads: int = 1
    optimization: str = "all"
    spinning: bool = False
    concurrency: Concurrency = Concurrency.THREADS
    memory_arena: bool = False
    workers: int | None = None

    def session_options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = OPTIMIZATION_LEVELS[self.optimization]
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = self.memory_arena
        spin = "1" if self.spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        return options


def default_settings() -> SessionSettings:
    """The measured default: single-threaded sessions, their calls shared by a thread pool.

    ``MATT_ORT_THREADS=N`` caps the CPU threads a pipeline uses at N (the pool's size); the
    server and the benchmark set it.
    """
    threads = os.environ.get("MATT_ORT_THREADS", "").strip()
    if not threads:
        return SessionSettings()
    if not threads.isdigit() or int(threads) < 1:
        raise InputError(f"MATT_ORT_THREADS must be a positive integer, got {threads!r}")
    return SessionSettings(workers=int(threads))


def _providers(device: str) -> list[str | tuple[str, dict[str, int]]]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    index = int(device.split(":")[1])
    return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]


class SessionFromOnnx:
    """Loader: builds an :class:`ort.InferenceSession` from an ONNX file when called."""

    def __init__(self, path: Path, device: str, settings: SessionSettings) -> None:
        self.path, self.device, self.settings = path, device, settings

    def __call__(self) -> ort.InferenceSession:
        try:
            return ort.InferenceSession(str(self.path), self.settings.session_options(),
                                        providers=_providers(self.device))
        except Exception as exc:  # onnxruntime raises its own kinds for a bad graph
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise BundleError(f"{self.path.name}: ONNX Runtime cannot load it ({first})") from None


class OnnxRuntimeRunner(Runner):
    """One session; ``InferenceSession.run`` is thread-safe, so nothing else is guarded."""

    def __init__(self, loader: SessionFromOnnx, input_name: str, output_name: str) -> None:
        self.name = loader.path.name
        self.session = loader()
        self._input, self._output = input_name, output_name

    def _run(self, inputs: NDArray) -> NDArray:
        output: NDArray = self.session.run([self._output], {self._input: inputs})[0]
        return output

    def close(self) -> None:
        self.session = None  # the session frees its memory when collected


class FusedOnnxRuntimeRunner(FusedRunner):
    """The fused graph in one session: one ``run`` feeds every member of the graph.

    Pool position ``p`` is graph member ``pool_indices[p]``; a member not given this call gets
    an empty batch (ONNX Runtime runs its nodes on zero windows), and only the outputs of the
    members given are fetched.
    """

    def __init__(self, loader: SessionFromOnnx, pool_indices: tuple[int, ...]) -> None:
        self.name = loader.path.name
        self.session = loader()
        self.inputs = [value.name for value in self.session.get_inputs()]
        self.members = len(self.inputs)
        expected = [FUSED_INPUT.format(index=i) for i in range(self.members)]
        if self.inputs != expected or max(pool_indices) >= self.members:
            raise BundleError(f"{self.name}: inputs {self.inputs[:3]}... do not hold the "
                              f"bundle's pool as images_0..images_N; export it again")
        self.pool_indices = pool_indices

    def _run_members(self, batches: Sequence[tuple[int, NDArray]]) -> list[NDArray]:
        window = batches[0][1].shape[1:]
        empty = np.empty((0, *window), dtype=np.float32)
        feeds = dict.fromkeys(self.inputs, empty)
        outputs = []
        for position, inputs in batches:
            member = self.pool_indices[position]
            feeds[self.inputs[member]] = inputs
            outputs.append(FUSED_OUTPUT.format(index=member))
        results: list[NDArray] = self.session.run(outputs, feeds)
        return results

    def close(self) -> None:
        self.session = None


def open_engines(models: ModelSelection, device: str,
                 settings: SessionSettings | None = None, *, fused: bool = False) -> EngineSet:
    """One session per selected purifier and one for the classifier; with ``fused``, also
    the session of the bundle's fused graph."""
    settings = settings or default_settings()
    purifiers = [OnnxRuntimeRunner(SessionFromOnnx(path, device, settings), PURIFIER_INPUT,
                                   PURIFIER_OUTPUT) for path in models.purifier_files]
    classifier = OnnxRuntimeRunner(SessionFromOnnx(models.classifier_file, device, settings),
                                   CLASSIFIER_INPUT, CLASSIFIER_OUTPUT)
    # On a GPU each session has its own CUDA stream; one host thread per engine overlaps them.
    concurrency = settings.concurrency if device == "cpu" else Concurrency.THREADS
    workers = len(purifiers) if device != "cpu" else settings.workers or os.cpu_count() or 1
    provider = "CPUExecutionProvider" if device == "cpu" else "CUDAExecutionProvider"
    engines = (f"a pool of {workers} host threads" if concurrency is Concurrency.THREADS
               else "engines one after another")
    description = (f"onnxruntime {ort.__version__} on {device} ({provider}, "
                   f"{settings.intra_op_threads or 'auto'} intra-op threads, {engines}, "
                   f"graph optimization {settings.optimization}, {models.precision})")
    fused_runner = None
    if fused and models.fused_file is not None:
        fused_runner = FusedOnnxRuntimeRunner(SessionFromOnnx(models.fused_file, device, settings),
                                              models.pool_indices)
        description += ", the fused graph: one session for the pool"
    return EngineSet(purifiers, classifier, concurrency, description, workers, fused_runner)
