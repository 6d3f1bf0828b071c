"""When a pipeline runs its pool as one fused graph: the rule, chosen by measurement.

A bundle exported by this ``matt-export`` holds, beside the per-member graphs, one graph with
every purifier (:mod:`matt.export.fused`); ONNX Runtime runs it in one session, so a query is
one call for the whole pool instead of one per member drawn. ``Pipeline.load(fused=...)``:

- ``"auto"`` (default): the fused graph for batches of at most :data:`AUTO_UP_TO` images
  (per precision), the per-member sessions above; a bundle without a fused graph runs as before;
- ``"on"``: the fused graph at every batch size (a bundle without one is refused);
- ``"off"``: the per-member sessions only (the fused graph is not loaded).

The numbers come from ``matt-bench fused`` (``benchmarks/results/fused-*.md``): per batch size,
the faster of the two in the same rounds on this 2-core CPU.
"""

from __future__ import annotations

from matt.errors import InputError

MODES = ("auto", "on", "off")
AUTO_UP_TO = {"fp32": 16, "int8": 0}
"""Largest batch (images) that ``fused="auto"`` runs through the fused graph, per precision.

From ``benchmarks/results/fused-cifar10-h17.md`` (CPU time, the machine shared with two
trainings): FP32 fused / per-member 0.93 at batch 1 and 16, 1.04 at 64; INT8 1.06, 1.05,
1.05. Four rounds per table: differences of a few percent, re-measure on a quiet machine."""
EVERY_BATCH = 1 << 62


def check_mode(fused: object) -> str:
    if fused not in MODES:
        raise InputError(f"fused must be one of {', '.join(MODES)}, got {fused!r}")
    return str(fused)


def fused_up_to(mode: str, precision: str) -> int:
    """The largest batch the fused graph runs under ``mode`` (0: never)."""
    if mode == "off":
        return 0
    if mode == "on":
        return EVERY_BATCH
    return AUTO_UP_TO.get(precision, 0)
