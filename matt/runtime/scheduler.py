"""Random patch-to-engine scheduling: tile, draw, group, run the engines, stitch.

Per batch: every patch of every image is cut with its halo into a window; one engine is drawn
per window (:class:`~matt.core.EngineDraw`: the OS CSPRNG, or a seed); the windows of each
engine are gathered into one contiguous batch (split into calls of bounded memory on the CPU),
so each window is purified exactly once whatever the pool size K; the engines run side by side
(:class:`Concurrency`); the interiors are stitched back. The draw and the plan are those of the
torch reference (:class:`matt.defense.RandomPatchPurifier`): with one seed both give one image.

With a fused runner (every member in one graph) and a batch of at most ``fused_up_to`` images,
the same groups go to the fused runner instead: one call for the whole pool while the windows
fit one call's pixels, else calls of bounded size, shared among the workers, each holding at
most one chunk per member. Draws, groups and stitching are the same on both paths.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from matt.core import EngineDraw, PatchPlan, extract_windows, group_by_engine, stitch_windows
from matt.core.types import IndexArray, NDArray
from matt.errors import InputError
from matt.runtime.engines.base import Concurrency, FusedRunner, Pending, Runner

PIXELS_PER_CALL = 1 << 14
"""Most pixels (batch × height × width) sent to a CPU engine in one call (18 windows of 30×30).
Bounds the memory of a call whatever the batch; small calls also keep the feature maps in
cache and spare ONNX Runtime the page faults of large fresh buffers, so they cost less CPU per
window than large ones, without a memory arena (measured: ``docs/runtime.md``)."""


def items_per_call(item_shape: tuple[int, ...], pixels_per_call: int = PIXELS_PER_CALL) -> int:
    """How many items of shape (C, H, W) fit in ``pixels_per_call`` (the default:
    :data:`PIXELS_PER_CALL`)."""
    return max(1, pixels_per_call // (item_shape[-2] * item_shape[-1]))


def split(indices: IndexArray, size: int) -> list[IndexArray]:
    return [indices[start:start + size] for start in range(0, len(indices), size)]


def run_chunked(runner: Runner, batch: NDArray, pixels_per_call: int = PIXELS_PER_CALL
                ) -> NDArray:
    """Run ``batch`` through ``runner`` in calls of at most :func:`items_per_call` items."""
    size = items_per_call(batch.shape[1:], pixels_per_call)
    if batch.shape[0] <= size:
        return runner.run(batch)
    return np.concatenate([runner.run(batch[start:start + size])
                           for start in range(0, batch.shape[0], size)])


class PatchScheduler:
    """Runs a pool of purifier engines over the patches of a batch.

    Args:
        engines: one runner per pool member, in pool order (the draw indexes this list).
        patch: patch size in pixels (clamped to the image).
        halo: context pixels cut around every patch; only the interior is kept.
        concurrency: how the engines of one batch run side by side.
        workers: host threads for :attr:`Concurrency.THREADS` (default: one per CPU).
        pixels_per_call: most pixels per CPU engine call (measured by ``matt.bench.tune``).
        fused: every member in one runner, or ``None``.
        fused_up_to: batches (images) up to this size go to ``fused``; larger ones to the
            per-member engines (the measured rule: :data:`matt.runtime.fused.AUTO_UP_TO`).

    Thread-safe: plans are cached under a lock, the draw has its own lock, runners guard
    themselves, and every call works on its own arrays.
    """

    def __init__(self, engines: Sequence[Runner], patch: int, halo: int,
                 concurrency: Concurrency, workers: int | None = None, *,
                 pixels_per_call: int = PIXELS_PER_CALL, fused: FusedRunner | None = None,
                 fused_up_to: int = 0) -> None:
        if isinstance(pixels_per_call, bool) or not isinstance(pixels_per_call, int) \
                or pixels_per_call < 1:
            raise InputError(f"pixels_per_call must be a positive integer, got {pixels_per_call!r}")
        self.engines = list(engines)
        self.pixels_per_call = pixels_per_call
        self.patch, self.halo = patch, halo
        self.concurrency = concurrency
        self.fused = fused
        self.fused_up_to = fused_up_to if fused is not None else 0
        self._plans: dict[tuple[int, int], PatchPlan] = {}
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self.workers = 1
        if concurrency is Concurrency.THREADS:
            self.workers = max(1, workers or os.cpu_count() or 1)
            self._executor = ThreadPoolExecutor(max(1, self.workers - 1),
                                                thread_name_prefix="matt-engine")

    @property
    def pool_size(self) -> int:
        return len(self.engines)

    def plan_for(self, height: int, width: int) -> PatchPlan:
        with self._lock:
            plan = self._plans.get((height, width))
            if plan is None:
                plan = PatchPlan.for_patch(height, width, self.patch, self.halo)
                self._plans[(height, width)] = plan
            return plan

    def purify(self, images: NDArray, draw: EngineDraw) -> NDArray:
        """Purify a checked float32 NCHW batch; ``draw`` picks the engine of every window."""
        plan = self.plan_for(images.shape[2], images.shape[3])
        windows = extract_windows(images, plan)
        engine_ids = draw.draw(windows.shape[0])
        purified = np.empty_like(windows)
        groups = group_by_engine(engine_ids, self.pool_size)
        if images.shape[0] <= self.fused_up_to:
            for indices, output in self._run_fused(windows, groups, plan):
                purified[indices] = output
            fused: NDArray = stitch_windows(purified, plan, images.shape[0])
            return fused
        if self.concurrency is not Concurrency.STREAMS:  # GPU runners hold their own capacity
            size = items_per_call(plan.window_shape, self.pixels_per_call)
            if self.concurrency is Concurrency.THREADS:  # every worker gets a share, even at K=1
                size = min(size, -(-windows.shape[0] // self.workers))
            groups = [(engine, part) for engine, indices in groups for part in split(indices, size)]
        for indices, output in self._run_groups(windows, groups):
            purified[indices] = output
        stitched: NDArray = stitch_windows(purified, plan, images.shape[0])
        return stitched

    def _run_groups(self, windows: NDArray, groups: list[tuple[int, IndexArray]]
                    ) -> list[tuple[IndexArray, NDArray]]:
        if self.concurrency is Concurrency.STREAMS:
            # Launch every engine on its own stream first, then wait: the engines overlap.
            pending: list[tuple[IndexArray, Pending]] = []
            try:
                for engine, indices in groups:
                    pending.append((indices, self.engines[engine].launch(windows[indices])))
            except BaseException:
                _drain(pending)
                raise
            results = []
            for position, (indices, handle) in enumerate(pending):
                try:
                    results.append((indices, handle.wait()))
                except BaseException:
                    _drain(pending[position + 1:])
                    raise
            return results
        if self._executor is not None and len(groups) > 1:
            # One task per worker, the calling thread taking the first: few hand-offs.
            shares = _balance(groups, self.workers)
            futures = [self._executor.submit(self._run_share, windows, share)
                       for share in shares[1:]]
            results = self._run_share(windows, shares[0])
            for future in futures:
                results += future.result()
            return results
        return self._run_share(windows, groups)

    def _run_fused(self, windows: NDArray, groups: list[tuple[int, IndexArray]],
                   plan: PatchPlan) -> list[tuple[IndexArray, NDArray]]:
        """The groups through the fused runner: one call while they fit one call's pixels."""
        count = windows.shape[0]
        size = items_per_call(plan.window_shape, self.pixels_per_call)
        if self.concurrency is Concurrency.STREAMS or count <= size:
            shares = [pack_calls(groups)]  # GPU runners split by their own capacity
        else:
            if self._executor is not None:
                size = min(size, -(-count // self.workers))
            chunks = [(engine, part) for engine, indices in groups for part in split(indices, size)]
            shares = [pack_calls(share) for share in
                      (_balance(chunks, self.workers) if self._executor is not None
                       else [chunks])]
        if len(shares) == 1:
            return self._run_fused_share(windows, shares[0])
        assert self._executor is not None
        futures = [self._executor.submit(self._run_fused_share, windows, share)
                   for share in shares[1:]]
        results = self._run_fused_share(windows, shares[0])
        for future in futures:
            results += future.result()
        return results

    def _run_fused_share(self, windows: NDArray, calls: list[list[tuple[int, IndexArray]]]
                         ) -> list[tuple[IndexArray, NDArray]]:
        assert self.fused is not None
        results = []
        for call in calls:
            outputs = self.fused.run_members([(engine, windows[indices])
                                              for engine, indices in call])
            results += [(indices, output) for (_, indices), output
                        in zip(call, outputs, strict=True)]
        return results

    def _run_share(self, windows: NDArray, groups: list[tuple[int, IndexArray]]
                   ) -> list[tuple[IndexArray, NDArray]]:
        return [(indices, self.engines[engine].run(windows[indices])) for engine, indices in groups]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def _balance(groups: list[tuple[int, IndexArray]], workers: int
             ) -> list[list[tuple[int, IndexArray]]]:
    """Share the calls among ``workers`` lists of about equal windows (largest first)."""
    shares: list[list[tuple[int, IndexArray]]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for group in sorted(groups, key=lambda g: -len(g[1])):
        lightest = loads.index(min(loads))
        shares[lightest].append(group)
        loads[lightest] += len(group[1])
    return [share for share in shares if share]


def pack_calls(chunks: list[tuple[int, IndexArray]]) -> list[list[tuple[int, IndexArray]]]:
    """Chunks → fused calls, each holding at most one chunk per engine, first fit in order."""
    calls: list[list[tuple[int, IndexArray]]] = []
    engines: list[set[int]] = []
    for engine, indices in chunks:
        for call, taken in zip(calls, engines, strict=True):
            if engine not in taken:
                call.append((engine, indices))
                taken.add(engine)
                break
        else:
            calls.append([(engine, indices)])
            engines.append({engine})
    return calls


def _drain(pending: list[tuple[IndexArray, Pending]]) -> None:
    """Wait for runs already launched, so their engines are free again, then give up."""
    for _, handle in pending:
        try:
            handle.wait()
        except Exception:  # the first error is the one reported
            continue
