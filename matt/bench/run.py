"""One benchmark run: build the subject, time every table round-robin, compute the figures.

Each (batch, size) pair is one table; all its rows are timed in the same rounds
(:mod:`matt.bench.timing`), so their ratios hold even on a shared, noisy machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from matt.bench.accuracy import int8_accuracy
from matt.bench.figures import compute_diagnostics, compute_figures, verdict_counts
from matt.bench.machine import load_average, machine_info, quiet_verdict, run_context
from matt.bench.rows import RowBuilder, TableKey, TableRows, backend_reason
from matt.bench.spec import BenchSpec
from matt.bench.subjects import BundleCache, bundle_weights, load_subject
from matt.bench.timing import time_rows
from matt.errors import InputError

SCHEMA = "matt-bench/1"


def _table_result(key: TableKey, built: TableRows, timing: dict[str, Any]) -> dict[str, Any]:
    rows = {}
    for row in built.rows:
        stats = timing["rows"].get(row.label)
        if stats is None:
            continue
        entry = {**row.info, **stats}
        median_s = stats["median_ms"] / 1e3
        entry["images_per_s"] = key.batch / median_s if row.info.get("batch") else None
        if row.info.get("flops_per_call"):
            entry["achieved_gflops"] = row.info["flops_per_call"] / median_s / 1e9
        rows[row.label] = entry
    return {"name": key.name, "batch": key.batch, "size": key.size, "rows": rows,
            "skipped": {**built.skipped, **timing["failed"]}, "rounds": timing["rounds"],
            "other_processes_cores": timing["other_processes_cores"]}


def run_benchmark(spec: BenchSpec, weights: str | None = None, bundle: Path | None = None,
                  progress: bool = True, argv: list[str] | None = None) -> dict[str, Any]:
    """Run ``spec`` on the subject ``weights`` (a path or shipped name; ``None``: default).

    ``bundle``, when given, serves the runtime rows at its own image size instead of one the
    benchmark exports from ``weights``.
    """
    load_start = load_average()
    context = run_context(argv)
    torch.set_num_threads(spec.threads)
    if bundle is not None:
        check_bundle_sizes(spec, bundle)
        weights = str(bundle_weights(bundle, weights))
    subject = load_subject(weights, spec.max_k)
    ks = (spec.max_k,) if spec.command == "roofline" else tuple(sorted(spec.ks))
    tables: dict[str, dict[str, Any]] = {}
    accuracy: dict[str, Any] | None = None
    int8 = "int8" in spec.precisions
    tensorrt = "tensorrt" in spec.backends and backend_reason("tensorrt") is None
    with BundleCache(subject, bundle, int8=int8, tensorrt=tensorrt,
                     calibration_images=spec.calibration_images) as bundles:
        builder = RowBuilder(spec, subject, bundles, spec.row_families, ks)
        try:
            for batch, size in spec.tables:
                key = TableKey(batch, size)
                built = builder.build(key)
                timing = time_rows(built.rows, spec.iterations, spec.warmup,
                                   spec.table_budget_s, progress, key.name)
                tables[key.name] = _table_result(key, built, timing)
                builder.close()
        finally:
            builder.close()
        if _wants_accuracy(spec, tables):
            accuracy = _accuracy(spec, subject, bundles)
        exported = bundles.describe()
    figures = compute_figures(tables, ks, accuracy)
    return {
        "schema": SCHEMA,
        "run": {**context, "spec": spec.to_dict(), "load": quiet_verdict(load_start,
                                                                          load_average())},
        "machine": machine_info(spec.threads),
        "subject": {**subject.source, "tiling": {"patch": subject.weights.tiling.patch,
                                                 "halo": subject.weights.tiling.halo,
                                                 "native_size": subject.native_size},
                    "bundle": str(bundle) if bundle else None, "bundles": exported},
        "method": {
            "timer": "time.perf_counter_ns around one call; median and p99 over timed rounds",
            "rounds": "every row of a table once per round, start rotated each round; the "
                      "first rounds are warm-up",
            "purifier_rows": "purification only (classifier excluded); the classifier row is "
                             "the undefended baseline",
            "draws": "engines drawn from the OS CSPRNG, as in serving",
        },
        "tables": tables,
        "int8_accuracy": accuracy,
        "figures": figures,
        "verdicts": verdict_counts(figures),
        "diagnostics": compute_diagnostics(tables, ks),
    }


def bundle_size(bundle: Path) -> int:
    """The square image size a bundle takes, in pixels."""
    from matt.formats.bundle import load_bundle

    return load_bundle(bundle, verify=False).manifest.input_shape[1]


def check_bundle_sizes(spec: BenchSpec, bundle: Path) -> None:
    """A bundle is timed at its own size only: another size would time a resized copy of it
    (or fail inside ONNX Runtime on a fixed-size classifier)."""
    size = bundle_size(bundle)
    others = sorted({s for _, s in spec.tables if s != size})
    if others:
        raise InputError(f"--bundle {bundle} takes {size}x{size} images; --size "
                         f"{','.join(map(str, others))} cannot be timed on it (leave --size "
                         "out, or leave --bundle out to time the benchmark's own exports)")


def _wants_accuracy(spec: BenchSpec, tables: dict[str, dict[str, Any]]) -> bool:
    return spec.accuracy_images > 0 and any(
        row.get("precision") == "int8" and row.get("backend") == "onnxruntime"
        for table in tables.values() for row in table["rows"].values())


def _accuracy(spec: BenchSpec, subject: Any, bundles: BundleCache) -> dict[str, Any]:
    try:
        bundle = bundles.bundle_for(subject.native_size)
    except Exception as exc:  # recorded in the results, never hidden
        return {"measured": False, "reason": str(exc)}
    return int8_accuracy(bundle, subject, spec.accuracy_images, spec.data_dir)
