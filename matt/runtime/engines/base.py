"""The one seam every runtime backend implements: a runner per model, and a set of them.

A *runner* owns one loaded model (an ONNX Runtime session, a TensorRT engine with its execution
context and stream, a torch module) and maps a float32 NCHW batch to its output. It is a context
manager; :meth:`Runner.run` is the public call and backends write :meth:`Runner._run`. Runners
that can work asynchronously (a CUDA stream) override :meth:`Runner.launch`, so the scheduler can
start every engine before waiting for any of them.

An :class:`EngineSet` is what a backend loads from a bundle: one runner per purifier of the
pool, one for the classifier, and the way its engines are best run side by side; where the
bundle has a fused graph (every purifier in one graph), also a :class:`FusedRunner`, which
runs the windows of every member drawn in one call.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from matt.core.types import NDArray
from matt.errors import InputError


class Concurrency(enum.Enum):
    """How the scheduler runs the engines of one batch.

    ``SEQUENTIAL``: one engine after the other, each using the backend's own threads (CPU).
    ``THREADS``: the engines' calls shared among a pool of host threads, each call
    single-threaded (CPU), or one thread per engine (ONNX Runtime on a GPU).
    ``STREAMS``: launch every engine on its own CUDA stream, then wait for all (GPU).
    """

    SEQUENTIAL = "sequential"
    THREADS = "threads"
    STREAMS = "streams"


class Pending(Protocol):
    """A launched run; :meth:`wait` blocks until its output is on the host."""

    def wait(self) -> NDArray: ...


@dataclass(frozen=True)
class Done:
    """A run that finished when it was launched."""

    output: NDArray

    def wait(self) -> NDArray:
        return self.output


class Runner(ABC):
    """One loaded model: float32 NCHW batch in, float32 batch out.

    Thread-safe: the server calls :meth:`run` from several threads at once; a backend whose
    engine holds per-call state (buffers, a context) guards it itself.
    """

    name: str = "model"

    def run(self, inputs: NDArray) -> NDArray:
        """Run the model on ``inputs`` (float32, 4 dimensions, non-empty)."""
        return self.launch(inputs).wait()

    def launch(self, inputs: NDArray) -> Pending:
        """Start a run and return at once where the backend can; here it runs to the end."""
        check_inputs(self.name, inputs)
        return Done(self._run(inputs))

    @abstractmethod
    def _run(self, inputs: NDArray) -> NDArray: ...

    def close(self) -> None:  # noqa: B027 - a runner holding nothing has nothing to free
        """Free what the runner holds (sessions, device buffers, streams)."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def check_inputs(name: str, inputs: NDArray) -> None:
    if not isinstance(inputs, np.ndarray) or inputs.dtype != np.float32 or inputs.ndim != 4:
        raise InputError(f"{name}: expected a float32 NCHW numpy array, got "
                         f"{getattr(inputs, 'dtype', type(inputs).__name__)} "
                         f"{getattr(inputs, 'shape', '')}")
    if inputs.shape[0] == 0:
        raise InputError(f"{name}: the batch is empty")


class FusedRunner(ABC):
    """Every pool member in one model: one call runs the windows of each member given.

    Thread-safe like :class:`Runner`.
    """

    name: str = "fused"

    def run_members(self, batches: Sequence[tuple[int, NDArray]]) -> list[NDArray]:
        """``(pool position, windows)`` pairs, positions distinct → outputs in that order."""
        positions = [position for position, _ in batches]
        if not batches or len(set(positions)) != len(positions):
            raise InputError(f"{self.name}: one call takes each pool member at most once, "
                             f"got positions {positions}")
        for position, inputs in batches:
            check_inputs(f"{self.name} member {position}", inputs)
        return self._run_members(batches)

    @abstractmethod
    def _run_members(self, batches: Sequence[tuple[int, NDArray]]) -> list[NDArray]: ...

    def close(self) -> None:  # noqa: B027 - a runner holding nothing has nothing to free
        """Free what the runner holds."""


@dataclass
class EngineSet:
    """The runners a backend loaded for one pipeline.

    Attributes:
        purifiers: one runner per selected pool member, in pool order.
        classifier: the classifier runner (images in [0, 1] → probabilities).
        concurrency: how the scheduler should run the purifiers of one batch.
        description: one line for logs and ``Pipeline.describe()``.
        workers: host threads for :attr:`Concurrency.THREADS` (``None``: one per CPU).
        fused: the pool in one model, when the bundle has one and it was asked for.
    """

    purifiers: Sequence[Runner]
    classifier: Runner
    concurrency: Concurrency
    description: str
    workers: int | None = None
    fused: FusedRunner | None = None

    def close(self) -> None:
        for runner in (*self.purifiers, self.classifier):
            runner.close()
        if self.fused is not None:
            self.fused.close()
