"""``matt-bench fused``: the pool as one fused graph against one session per member.

Per precision and batch size, one table timed round-robin (:mod:`matt.bench.timing`), so the
ratios hold on a loaded machine: the pool of K members run per member (today's path,
``fused="off"``), the same pool as the fused graph (``fused="on"``), and every member alone
(``pool=[i]``, per member), whose mean is the cost the pool should not exceed. Wall-clock and
process CPU time (every thread of this process) per call are recorded; the choice per batch
size is the faster wall-clock median, and the rule ``fused up to batch B`` that follows is
what :data:`matt.runtime.fused.AUTO_UP_TO` should hold.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matt.bench.machine import load_average, machine_info, quiet_verdict, run_context
from matt.bench.timing import TimedRow, time_rows
from matt.errors import SpecError

SCHEMA = "matt-bench-fused/1"
PER_MEMBER, FUSED = "per-member", "fused"
BUSY_CORES = 0.5


@dataclass(frozen=True)
class FusedSpec:
    """One comparison: the batch sizes, precisions and rounds of every table."""

    batches: tuple[int, ...] = (1, 16, 64)
    precisions: tuple[str, ...] = ("fp32", "int8")
    iterations: int = 30
    warmup: int = 3
    table_budget_s: float = 300.0
    threads: int = 2
    members_alone: bool = True
    members_batches: tuple[int, ...] | None = None
    """Batch sizes at which the members alone are timed (``None``: every one)."""

    def __post_init__(self) -> None:
        if not self.batches or any(b < 1 for b in self.batches):
            raise SpecError(f"fused bench: batches must be positive, got {list(self.batches)}")
        unknown = [p for p in self.precisions if p not in ("fp32", "int8")]
        if not self.precisions or unknown:
            raise SpecError(f"fused bench: precisions must be among fp32, int8, got "
                            f"{list(self.precisions)}")
        if self.iterations < 1 or self.warmup < 0 or self.threads < 1 \
                or not self.table_budget_s > 0:
            raise SpecError("fused bench: iterations and threads must be >= 1, warmup >= 0, "
                            "the table budget > 0 s")


class _CpuTimed:
    """A call that also records the process CPU time it took (every thread of the process)."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.call = call
        self.samples_ns: list[int] = []

    def __call__(self) -> object:
        start = time.process_time_ns()
        result = self.call()
        self.samples_ns.append(time.process_time_ns() - start)
        return result


def _table(bundle: Path, precision: str, batch: int, spec: FusedSpec,
           progress: bool) -> dict[str, Any]:
    from matt.formats.bundle import load_bundle
    from matt.runtime import Pipeline

    loaded = load_bundle(bundle)
    pool = len(loaded.manifest.purifiers)
    rng = np.random.default_rng(batch)
    images = rng.random((batch, *loaded.manifest.input_shape), dtype=np.float32)
    pipes: dict[str, Any] = {}
    try:
        pipes[PER_MEMBER] = Pipeline.load(loaded, backend="onnxruntime", device="cpu",
                                          precision=precision, fused="off")
        pipes[FUSED] = Pipeline.load(loaded, backend="onnxruntime", device="cpu",
                                     precision=precision, fused="on")
        if spec.members_alone and (spec.members_batches is None
                                   or batch in spec.members_batches):
            for index in range(pool):
                pipes[f"member/{index}"] = Pipeline.load(
                    loaded, backend="onnxruntime", device="cpu", precision=precision,
                    pool=[index], fused="off")
        timed = {label: _CpuTimed(_bind(pipe.purify, images)) for label, pipe in pipes.items()}
        rows = [TimedRow(label, call) for label, call in timed.items()]
        timing = time_rows(rows, spec.iterations, spec.warmup, spec.table_budget_s, progress,
                           f"{precision} batch {batch}")
        described = {label: pipe.describe() for label, pipe in pipes.items()}
    finally:
        for pipe in pipes.values():
            pipe.close()
    result: dict[str, Any] = {"precision": precision, "batch": batch, "pool_size": pool,
                              "windows": batch * pipes[PER_MEMBER].plan().patches_per_image,
                              "rows": {}, "failed": timing["failed"], "rounds": timing["rounds"],
                              "other_processes_cores": timing["other_processes_cores"]}
    count = timing["rounds"]["timed"]
    for label, stats in timing["rows"].items():
        cpu = np.asarray(timed[label].samples_ns[-count:], dtype=np.float64) / 1e6
        result["rows"][label] = {**stats, "cpu_median_ms": float(np.median(cpu)),
                                 "describe": described[label]}
    result["ratios"] = _ratios(result["rows"], pool, choice_basis(result["other_processes_cores"]))
    return result


def choice_basis(other_cores: float | None) -> str:
    """``cpu`` where other processes took over :data:`BUSY_CORES` cores while a table was
    timed (then wall-clock time is mostly waiting for a core, and CPU time is the work done),
    else ``wall``."""
    return "cpu" if other_cores is not None and other_cores > BUSY_CORES else "wall"


def _bind(function: Callable[[Any], object], argument: Any) -> Callable[[], object]:
    return lambda: function(argument)


def _ratios(rows: dict[str, Any], pool: int, basis: str = "wall") -> dict[str, Any]:
    """fused / per-member, and each against the mean of the members alone (wall and CPU);
    ``faster`` is judged on ``basis`` (``wall`` or ``cpu``)."""
    ratios: dict[str, Any] = {}
    if PER_MEMBER not in rows or FUSED not in rows:
        return ratios
    for key, stat in (("wall", "median_ms"), ("cpu", "cpu_median_ms")):
        fused, per = rows[FUSED][stat], rows[PER_MEMBER][stat]
        ratios[f"fused_over_per_member_{key}"] = fused / per
        alone = [rows[f"member/{i}"][stat] for i in range(pool) if f"member/{i}" in rows]
        if len(alone) == pool:
            mean = float(np.mean(alone))
            ratios[f"members_mean_{key}_ms"] = mean
            ratios[f"per_member_over_members_mean_{key}"] = per / mean
            ratios[f"fused_over_members_mean_{key}"] = fused / mean
    ratios["basis"] = basis
    ratios["faster"] = FUSED if ratios[f"fused_over_per_member_{basis}"] < 1 else PER_MEMBER
    return ratios


def choose_rule(tables: list[dict[str, Any]]) -> dict[str, int]:
    """Per precision, the largest batch B such that the fused graph was faster at every
    measured batch up to B (0: per-member already at the smallest)."""
    rule: dict[str, int] = {}
    for precision in sorted({t["precision"] for t in tables}):
        up_to = 0
        for table in sorted((t for t in tables if t["precision"] == precision),
                            key=lambda t: t["batch"]):
            if table["ratios"].get("faster") != FUSED:
                break
            up_to = table["batch"]
        rule[precision] = up_to
    return rule


def run_fused(spec: FusedSpec, bundle: Path, progress: bool = True,
              argv: list[str] | None = None) -> dict[str, Any]:
    """Time every (precision, batch) table of ``spec`` on ``bundle`` (which has fused graphs)."""
    from matt.formats.bundle import load_bundle

    load_start = load_average()
    context = run_context(argv)
    os.environ["MATT_ORT_THREADS"] = str(spec.threads)
    manifest = load_bundle(bundle).manifest
    tables, skipped = [], {}
    for precision in spec.precisions:
        if precision not in manifest.fused:
            skipped[precision] = (f"{bundle} has no fused {precision} graph (matt-export "
                                  f"{'--precision int8 ' if precision == 'int8' else ''}"
                                  "with every member's graph of that precision)")
            continue
        for batch in spec.batches:
            tables.append(_table(bundle, precision, batch, spec, progress))
    return {
        "schema": SCHEMA,
        "run": {**context, "spec": asdict(spec),
                "load": quiet_verdict(load_start, load_average())},
        "machine": machine_info(spec.threads),
        "subject": {"bundle": str(bundle), "dataset": manifest.dataset,
                    "input_shape": list(manifest.input_shape), "patch": manifest.patch,
                    "halo": manifest.halo, "pool": [m.name for m in manifest.purifiers],
                    "export": manifest.export},
        "method": {
            "rows": "Pipeline.purify (ONNX Runtime CPU, MATT_ORT_THREADS threads), engines "
                    "drawn from the OS CSPRNG: per-member = fused='off', fused = fused='on', "
                    "member/i = pool [i] alone",
            "rounds": "every row once per round, start rotated; the first rounds warm-up",
            "cpu": "time.process_time_ns around each call: CPU of every thread of the process",
            "choice": "per batch, the lower median: wall-clock, or CPU time where other "
                      f"processes took over {BUSY_CORES} cores during the table (basis); the "
                      "rule: fused up to the largest batch below which it always won",
        },
        "tables": tables,
        "skipped": skipped,
        "rule_fused_up_to": choose_rule(tables),
    }


def markdown(result: dict[str, Any]) -> str:
    """The record: the command, revision and load, then one line per table."""
    run, load = result["run"], result["run"]["load"]
    lines = [
        "# matt-bench fused: the pool as one graph against one session per member", "",
        f"`{run['command_line']}`", "",
        f"- git {run['git']['revision']}{' (uncommitted changes)' if run['git']['dirty'] else ''}"
        f", started {run['started']}; {result['machine']['cpu_model']}, "
        f"{result['machine']['threads']} threads",
        f"- load average at the start {load['load_average_start']}, at the end "
        f"{load['load_average_end']}: {load['note']}",
        f"- bundle {result['subject']['bundle']} ({result['subject']['dataset']}, "
        f"{len(result['subject']['pool'])} members, patch {result['subject']['patch']}, "
        f"halo {result['subject']['halo']})", "",
        "| precision | batch | windows | per-member ms | fused ms | members' mean ms | "
        "fused / per-member | per-member / mean | fused / mean | CPU: fused / per-member | "
        "CPU: per-member / mean | CPU: fused / mean | faster | rounds | other cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for table in result["tables"]:
        rows, r = table["rows"], table["ratios"]

        def ms(label: str, rows: dict[str, Any] = rows) -> str:
            return f"{rows[label]['median_ms']:.2f}" if label in rows else "–"

        def x(key: str, r: dict[str, Any] = r) -> str:
            return f"{r[key]:.3f}" if key in r else "–"

        mean = f"{r['members_mean_wall_ms']:.2f}" if "members_mean_wall_ms" in r else "–"
        lines.append(
            f"| {table['precision']} | {table['batch']} | {table['windows']} | {ms(PER_MEMBER)} "
            f"| {ms(FUSED)} | {mean} | {x('fused_over_per_member_wall')} | "
            f"{x('per_member_over_members_mean_wall')} | {x('fused_over_members_mean_wall')} | "
            f"{x('fused_over_per_member_cpu')} | {x('per_member_over_members_mean_cpu')} | "
            f"{x('fused_over_members_mean_cpu')} | {r.get('faster', '–')} ({r.get('basis', '')}) | "
            f"{table['rounds']['timed']} | {table['other_processes_cores']} |")
    lines += ["", f"Rule (fused up to batch B, per precision): {result['rule_fused_up_to']}"]
    for precision, why in result["skipped"].items():
        lines.append(f"- {precision} not timed: {why}")
    return "\n".join(lines) + "\n"


def record_paths(out_dir: Path, name: str) -> list[Path]:
    """Where the record goes; files already there are refused (records are never replaced)."""
    from matt.errors import InputError

    paths = [out_dir / f"{name}.json", out_dir / f"{name}.md"]
    taken = [str(p) for p in paths if p.exists()]
    if taken:
        raise InputError(f"{', '.join(taken)} exists; records are never overwritten, pass "
                         "another --name")
    return paths


def write_fused(result: dict[str, Any], out_dir: Path, name: str) -> list[Path]:
    """``<name>.json`` and ``<name>.md`` in ``out_dir``; existing files are not replaced."""
    import json

    from matt.core.files import write_text_atomic

    paths = record_paths(out_dir, name)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_text_atomic(paths[0], json.dumps(result, indent=2, allow_nan=False) + "\n"),
            write_text_atomic(paths[1], markdown(result))]
