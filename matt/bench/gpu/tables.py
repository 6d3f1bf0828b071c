"""The rows of one (image size, batch) table and how they are timed inside the table's share.

Rows (every one takes a float32 NCHW batch on the host and returns its output to the host,
as a query to the service does):

- ``classifier``: the classifier alone, through the runtime's torch engine.
- ``matt/K=k``: ``Pipeline.purify`` on the runtime's torch engine over the first k members
  (on CUDA: one stream per engine, every engine launched before any is waited for).
- ``matt+classifier/K=k``: ``Pipeline.predict`` at the largest K (the defended model).
- ``disco/K=k``: DISCO's official formulation (LIIF with local ensemble, K EDSR encoders on the
  whole image, one drawn decodes), random weights in the official shape, on the same device.

A table is timed in rounds, every row once a round, the start rotated each round. The first
call of each row (model build, cuDNN set-up, allocator growth) is untimed and recorded; then
``warmup`` rounds; then timed rounds until ``iterations`` or until the next round would end
after the table's deadline, which the result then says.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from matt.bench.gpu.clock import Timer, row_stats
from matt.bench.gpu.spec import GpuSpec

NOT_BUILT = "not built: the table's share of the budget was spent"


@dataclass
class Row:
    """A row: ``make`` builds what it times (counted in the table's share) and returns the call."""

    label: str
    make: Callable[[], Callable[[], object]]
    info: dict[str, Any] = field(default_factory=dict)


class Models:
    """The pipelines per (size, K) and the DISCO members, built once and shared by tables."""

    def __init__(self, spec: GpuSpec, subject: Any) -> None:
        self.spec, self.subject = spec, subject
        self._pipelines: dict[tuple[int, int], Any] = {}
        self._weights: dict[int, Any] = {}
        self.classifier_notes: dict[int, str] = {}
        self._disco: list[Any] = []

    def tiling(self, size: int) -> tuple[int, int]:
        return self.subject.patch_for(size, None), self.subject.halo(None)

    def weights_for(self, size: int) -> Any:
        """The subject at ``size``×``size``; where its classifier cannot take that size (a
        fixed-size dense head), a random-init ``resnet`` classifier stands in, with a note."""
        if size in self._weights:
            return self._weights[size]
        weights = self.subject.weights
        if size != self.subject.native_size:
            import torch

            from matt.models import ClassifierSpec, build_classifier

            weights = replace(weights, input_shape=(self.subject.channels, size, size))
            try:
                with torch.inference_mode():
                    weights.build_classifier().eval()(torch.rand(1, self.subject.channels,
                                                                 size, size))
            except RuntimeError as exc:
                classifier_spec = ClassifierSpec("resnet", num_classes=len(weights.class_names),
                                                 channels=self.subject.channels)
                torch.manual_seed(0)
                state = build_classifier(classifier_spec).eval().state_dict()
                weights = replace(weights, classifier_spec=classifier_spec,
                                  classifier_state=state)
                self.classifier_notes[size] = (
                    f"the subject's {self.subject.weights.classifier_spec.arch} classifier cannot "
                    f"take {size}x{size} ({str(exc).splitlines()[0][:120]}); a random-init "
                    f"resnet (width {classifier_spec.width}, {classifier_spec.blocks} blocks) "
                    "stands in")
        self._weights[size] = weights
        return weights

    def pipeline(self, size: int, k: int) -> Any:
        from matt.runtime import Pipeline

        if (size, k) not in self._pipelines:
            weights = self.weights_for(size)
            patch, halo = self.tiling(size)
            self._pipelines[(size, k)] = Pipeline.from_weights(
                weights, device=self.spec.torch_device, pool=k, patch=patch, halo=halo)
        return self._pipelines[(size, k)]

    def built(self, size: int, k: int) -> Any:
        """The pipeline of ``size`` and ``k`` if a row built it, else ``None``."""
        return self._pipelines.get((size, k))

    def disco(self, k: int) -> Any:
        """DISCO's ensemble of the first ``k`` members (random weights, seeded per member)."""
        import torch

        from matt.models.disco import DiscoEnsemble, DiscoSpec, LiifPurifier

        while len(self._disco) < k:
            torch.manual_seed(len(self._disco))
            member = LiifPurifier(DiscoSpec(channels=self.subject.channels)).eval()
            self._disco.append(member.to(self.spec.torch_device))
        return DiscoEnsemble(self._disco[:k]).eval()

    def release(self, size: int) -> None:
        """Close the pipelines of ``size`` (the next tables use another size)."""
        for key in [key for key in self._pipelines if key[0] == size]:
            self._pipelines.pop(key).close()
        self._weights.pop(size, None)
        _free_cuda(self.spec.cuda)

    def close(self) -> None:
        for pipeline in self._pipelines.values():
            pipeline.close()
        self._pipelines.clear()
        self._disco.clear()
        _free_cuda(self.spec.cuda)


def _free_cuda(cuda: bool) -> None:
    gc.collect()
    if cuda:
        import torch

        torch.cuda.empty_cache()


def build_rows(spec: GpuSpec, models: Models, size: int, batch: int) -> list[Row]:
    """The rows of one table, in the order they are first called."""
    rng = np.random.default_rng(batch * 100_003 + size)
    images = rng.random((batch, models.subject.channels, size, size), dtype=np.float32)
    patch, halo = models.tiling(size)
    common = {"batch": batch, "size": size}
    top = max(spec.ks)
    rows = [Row("classifier", lambda: _bind(models.pipeline(size, min(spec.ks))
                                            .classify_undefended, images),
                {"family": "classifier", "k": None, **common})]
    for k in sorted(spec.ks):
        rows.append(Row(f"matt/K={k}", _matt_maker(models, size, k, images, "purify"),
                        {"family": "matt", "k": k, "patch": patch, "halo": halo, **common}))
    rows.append(Row(f"matt+classifier/K={top}", _matt_maker(models, size, top, images, "predict"),
                    {"family": "matt+classifier", "k": top, "patch": patch, "halo": halo,
                     **common}))
    for k in sorted(spec.disco_ks):
        rows.append(Row(f"disco/K={k}", _disco_maker(models, k, images),
                        {"family": "disco", "k": k, **common}))
    return rows


def _bind(function: Callable[[Any], object], argument: Any) -> Callable[[], object]:
    return lambda: function(argument)


def _matt_maker(models: Models, size: int, k: int, images: np.ndarray,
                method: str) -> Callable[[], Callable[[], object]]:
    return lambda: _bind(getattr(models.pipeline(size, k), method), images)


def _disco_maker(models: Models, k: int, images: np.ndarray) -> Callable[[], Callable[[], object]]:
    def make() -> Callable[[], object]:
        import torch

        ensemble = models.disco(k)
        device = models.spec.torch_device

        def call() -> object:
            with torch.inference_mode():
                output = ensemble(torch.from_numpy(images).to(device, non_blocking=False))
                return output.cpu().numpy()

        return call

    return make


def time_table(rows: list[Row], spec: GpuSpec, timer: Timer, deadline: float,
               log: Callable[[str], None]) -> dict[str, Any]:
    """Build and time ``rows`` round-robin until the asked rounds or ``deadline``."""
    started = time.monotonic()
    calls, infos, skipped = _first_calls(rows, timer, deadline, spec.cuda)
    labels = list(calls)
    samples: dict[str, list[float]] = {label: [] for label in labels}
    host: dict[str, list[float]] = {label: [] for label in labels}
    asked = spec.warmup + spec.iterations
    done, round_s, stopped = 0, 0.0, False
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while labels and done < asked:
            if time.monotonic() + round_s > deadline:
                stopped = True
                break
            gc.collect(0)
            round_start = time.monotonic()
            offset = done % len(labels)
            for label in labels[offset:] + labels[:offset]:
                try:
                    primary_ms, host_ms = timer.time(calls[label])
                except Exception as exc:  # recorded; the other rows go on
                    skipped[label] = f"failed in round {done + 1}: {_reason(exc)}"
                    labels.remove(label)
                    _free_cuda(spec.cuda)
                    continue
                if done >= spec.warmup:
                    samples[label].append(primary_ms)
                    host[label].append(host_ms)
            round_s = time.monotonic() - round_start
            done += 1
    finally:
        if gc_was_enabled:
            gc.enable()
    timed = max(0, done - spec.warmup)
    stopped = stopped or NOT_BUILT in skipped.values()
    result_rows = {}
    for label in labels:
        entry = dict(infos[label])
        if samples[label]:
            entry.update(row_stats(samples[label], host[label]))
            entry["images_per_s"] = entry["batch"] / (entry["median_ms"] / 1e3)
        else:
            entry["not_timed"] = "the table's share of the budget ended during the warm-up"
        result_rows[label] = entry
    note = (f"stopped by its share of the budget after {done} of {asked} rounds"
            if stopped else f"all {asked} rounds ran")
    log(f"  {note}; {time.monotonic() - started:.1f} s")
    return {"rows": result_rows, "skipped": skipped,
            "rounds": {"warmup_asked": spec.warmup, "timed_asked": spec.iterations,
                       "warmup_done": min(done, spec.warmup), "timed_done": timed,
                       "stopped_by_budget": stopped, "note": note,
                       "last_round_s": round(round_s, 4)},
            "wall_s": round(time.monotonic() - started, 2)}


def _first_calls(rows: list[Row], timer: Timer, deadline: float, cuda: bool
                 ) -> tuple[dict[str, Callable[[], object]], dict[str, dict[str, Any]],
                            dict[str, str]]:
    """Build each row and call it once (untimed); a row that fails is set aside with why."""
    calls: dict[str, Callable[[], object]] = {}
    infos: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for row in rows:
        if time.monotonic() >= deadline:
            skipped[row.label] = NOT_BUILT
            continue
        try:
            build_start = time.monotonic()
            call = row.make()
            build_s = time.monotonic() - build_start
            first_ms, _ = timer.time(call)
        except Exception as exc:  # recorded in the results, never hidden
            skipped[row.label] = _reason(exc)
            _free_cuda(cuda)
            continue
        calls[row.label] = call
        infos[row.label] = {**row.info, "build_s": round(build_s, 3),
                            "first_call_ms": round(first_ms, 3)}
    return calls, infos, skipped


def _reason(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0][:300] if first else ''}".rstrip(": ")


def table_figures(rows: dict[str, dict[str, Any]], spec: GpuSpec) -> dict[str, float | None]:
    """Ratios of medians within the table (``None`` where a row was not timed)."""
    def median(label: str) -> float | None:
        value = rows.get(label, {}).get("median_ms")
        return float(value) if value else None

    def ratio(top: str, bottom: str) -> float | None:
        upper, lower = median(top), median(bottom)
        return upper / lower if upper and lower else None

    k_min, k_max = min(spec.ks), max(spec.ks)
    return {
        f"disco_k1_over_matt_k{k_max}": ratio("disco/K=1", f"matt/K={k_max}"),
        f"matt_k{k_max}_over_matt_k{k_min}": ratio(f"matt/K={k_max}", f"matt/K={k_min}"),
        f"matt_plus_classifier_k{k_max}_over_classifier": ratio(
            f"matt+classifier/K={k_max}", "classifier"),
    }
