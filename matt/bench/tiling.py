"""``matt-bench tiling``: what the halo and the patch size cost, and what they change.

With a halo of at least the pool's receptive radius, patch-wise purification equals
whole-image purification exactly; a smaller halo processes fewer pixels and changes the output
a little. For every (patch, halo) this measures, on the same clean test images and with the
same seed (so the same purifier per patch: the draw depends only on the number of patches):

- the pixels processed per image pixel (windows' area over the image's, from the plan);
- the purifier's wall time, relative to the exact halo's at the same patch size, timed
  round-robin batch by batch so background load hits every halo alike;
- max and mean |purified − exact purified|, and the share of values off by over a grey level;
- the clean accuracy of MATT, with its 95 % (Wilson) interval;
- the purifiers' multiply-accumulates per image pixel (pixels processed × the pool's mean MACs
  per pixel).

The plan per image size is then chosen by the numbers: the cheapest (patch, halo) in MACs per
image pixel whose mean |diff| is at most ``bound`` and whose clean accuracy lies in the exact
tiling's interval; the frontier (MACs per pixel against mean |diff|) is recorded beside it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from matt.bench.machine import ForeignLoad, load_average, machine_info, quiet_verdict, run_context
from matt.core import PatchPlan
from matt.core.stats import wilson_interval
from matt.errors import InputError, SpecError

if TYPE_CHECKING:
    from matt.formats.weights import WeightsFile

SCHEMA = "matt-bench-tiling/1"
DEFAULT_HALOS = (0, 1, 2, 3, 4, 6, 8)
GREY_LEVEL = 1 / 255
CHOICE_MEAN_DIFF = 1e-4
"""The shipped bundles' rule: the smallest halo whose mean |diff| from exact is below this."""
FIDELITY_BOUND = 1e-3
"""Default bound on mean |diff| from exact purification for the plan chosen by measurement."""
METHOD = {
    "backend": "torch on the CPU (Pipeline.from_weights), every pool member",
    "draws": "one seeded draw stream per halo, the same seed: the same purifier per patch",
    "timer": "time.perf_counter around Pipeline.purify per batch, summed; halos run "
             "round-robin per batch, the first halo rotating; one untimed warm-up call each; "
             "an image set of fewer than timed_rounds batches is purified again (timed only, "
             "timed_passes times in all)",
    "relative_cost": "purifier seconds over the exact halo's at the same patch size",
    "pixel_ratio": "windows per image x window area / image area (the PatchPlan geometry)",
    "diff": "|purified - exact purified| over every value of every image, [0, 1] scale",
    "accuracy": "clean accuracy of MATT (purify, then the classifier) on the images",
}


@dataclass(frozen=True)
class TilingSpec:
    """One tiling sweep.

    Attributes:
        halos: halos in pixels to compare with the exact one (which is always measured, as is
            the weights' default halo).
        patches: patch sizes in pixels; ``None`` takes the weights' patch and twice it.
        images: clean test images (fewer where the data set has fewer).
        data_dir: the data set's folder (``None``: the default place).
        threads: torch CPU threads.
        batch: images per purify call.
        timed_rounds: batches timed per halo at least: a small image set is purified again
            (timed only) until it has had this many.
        seed: seed of the engine draws, the same for every halo.
        bound: the largest mean |diff| from exact a chosen plan may have.
    """

    halos: tuple[int, ...] = DEFAULT_HALOS
    patches: tuple[int, ...] | None = None
    images: int = 1000
    data_dir: str | None = None
    threads: int = 1
    batch: int = 64
    timed_rounds: int = 16
    seed: int = 0
    bound: float = FIDELITY_BOUND

    def __post_init__(self) -> None:
        _check_ints("halos", self.halos, minimum=0)
        if isinstance(self.bound, bool) or not isinstance(self.bound, int | float) \
                or not self.bound > 0:
            raise SpecError(f"tiling spec: bound must be a number > 0, got {self.bound!r}")
        if self.patches is not None:
            _check_ints("patches", self.patches, minimum=1)
        for name in ("images", "threads", "batch", "timed_rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(f"tiling spec: {name} must be a positive integer, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_ints(name: str, values: tuple[int, ...], minimum: int) -> None:
    if not values:
        raise SpecError(f"tiling spec: {name} needs at least one value")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SpecError(f"tiling spec: every value of {name} must be an integer >= "
                            f"{minimum}, got {value!r}")


def pixel_ratio(plan: PatchPlan) -> float:
    """Pixels the purifiers process per image pixel: every window's area over the image's."""
    return plan.pixels_processed / (plan.height * plan.width)


def resolve_patches(spec: TilingSpec, weights: WeightsFile) -> tuple[int, ...]:
    """The patch sizes to sweep; one larger than the image's side is refused."""
    side = min(weights.input_shape[1:])
    if spec.patches is None:
        default = weights.tiling.patch
        return tuple(sorted({min(default, side), min(2 * default, side)}))
    too_large = [patch for patch in spec.patches if patch > side]
    if too_large:
        raise InputError(f"--patches {','.join(map(str, too_large))}: larger than the "
                         f"{weights.input_shape[1]}x{weights.input_shape[2]} image; use "
                         f"1..{side}")
    return tuple(sorted(set(spec.patches)))


def halos_for(spec: TilingSpec, weights: WeightsFile) -> tuple[int, ...]:
    """The asked halos plus the exact one and the weights' default, ascending."""
    return tuple(sorted({*spec.halos, weights.receptive_radius, weights.tiling.halo}))


@dataclass
class _Tally:
    """What one (patch, halo) accumulated over the batches."""

    purify_s: float = 0.0
    max_diff: float = 0.0
    abs_diff_sum: float = 0.0
    over_grey: int = 0
    values: int = 0
    correct: int = 0
    images: int = 0

    def add(self, purified: np.ndarray, exact: np.ndarray, predicted: np.ndarray,
            labels: np.ndarray) -> None:
        diff = np.abs(purified.astype(np.float64) - exact)
        self.max_diff = max(self.max_diff, float(diff.max()))
        self.abs_diff_sum += float(diff.sum())
        self.over_grey += int((diff > GREY_LEVEL).sum())
        self.values += diff.size
        self.correct += int((predicted == labels).sum())
        self.images += len(labels)


def measure_patch(weights: WeightsFile, images: np.ndarray, labels: np.ndarray, patch: int,
                  halos: tuple[int, ...], spec: TilingSpec,
                  progress: bool = False) -> list[dict[str, Any]]:
    """One row per halo at ``patch``: cost, difference from the exact halo, clean accuracy.

    Every halo gets its own seeded pipeline; the batches are purified round-robin (the
    starting halo rotating each batch) so the timings share the machine's state.
    """
    from matt.runtime import Pipeline

    exact = weights.receptive_radius
    pipelines = {}
    try:
        for halo in halos:
            pipelines[halo] = Pipeline.from_weights(weights, device="cpu", patch=patch,
                                                    halo=halo, seed=spec.seed)
            pipelines[halo].with_seed(None).purify(images[:1])  # warm-up, seeded draw untouched
        tallies = {halo: _Tally() for halo in halos}
        starts = list(range(0, len(images), spec.batch))
        passes = math.ceil(spec.timed_rounds / len(starts))
        rounds = [(index, start) for index in range(passes) for start in starts]
        with tqdm(total=len(rounds) * len(halos), desc=f"patch {patch}", unit="run",
                  disable=not progress, leave=False) as bar:
            for round_index, (pass_index, start) in enumerate(rounds):
                chunk = images[start:start + spec.batch]
                shift = round_index % len(halos)
                purified = {}
                for halo in halos[shift:] + halos[:shift]:
                    began = time.perf_counter()
                    purified[halo] = pipelines[halo].purify(chunk)
                    tallies[halo].purify_s += time.perf_counter() - began
                    bar.update()
                if pass_index == 0:  # later passes only time; each halo's draws stay in step
                    _compare(purified, exact, pipelines, labels[start:start + spec.batch],
                             tallies)
    finally:
        for pipeline in pipelines.values():
            pipeline.close()
    _, height, width = weights.input_shape
    exact_plan = PatchPlan.for_patch(height, width, patch, exact)
    timed_images = passes * len(images)
    return [{**_row(PatchPlan.for_patch(height, width, patch, halo), tallies[halo],
                    tallies[exact], exact_plan, weights), "timed_passes": passes,
             "purify_ms_per_image": 1e3 * tallies[halo].purify_s / timed_images}
            for halo in halos]


def _compare(purified: dict[int, np.ndarray], exact: int, pipelines: dict[int, Any],
             labels: np.ndarray, tallies: dict[int, _Tally]) -> None:
    """Tally each halo's batch against the exact halo's, and classify it."""
    reference = purified[exact].astype(np.float64)
    for halo, output in purified.items():
        predicted = pipelines[halo].classify_undefended(output).argmax(axis=1)
        tallies[halo].add(output, reference, predicted, labels)


def _row(plan: PatchPlan, tally: _Tally, exact: _Tally, exact_plan: PatchPlan,
         weights: WeightsFile) -> dict[str, Any]:
    ratio = pixel_ratio(plan)
    macs = float(np.mean([member.spec.macs_per_pixel for member in weights.pool]))
    return {
        "patch": plan.patch_h, "halo": plan.halo,
        "exact": plan.halo == exact_plan.halo,
        "default": (plan.patch_h, plan.halo) == (weights.tiling.patch, weights.tiling.halo),
        "windows_per_image": plan.patches_per_image, "window": list(plan.window_shape),
        "pixel_ratio": ratio, "relative_pixels": ratio / pixel_ratio(exact_plan),
        "purify_s": tally.purify_s, "relative_cost": tally.purify_s / exact.purify_s,
        "max_abs_diff": tally.max_diff, "mean_abs_diff": tally.abs_diff_sum / tally.values,
        "share_over_grey_level": tally.over_grey / tally.values,
        "accuracy": tally.correct / tally.images, "images": tally.images,
        "accuracy_interval": list(wilson_interval(tally.correct, tally.images)),
        "macs_per_image_pixel": ratio * macs,
    }


def choose_plan(rows: list[dict[str, Any]], bound: float) -> dict[str, Any]:
    """The cheapest row (MACs per image pixel, then the smaller mean |diff|: a row of the
    frontier) with mean |diff| <= bound and clean accuracy inside the 95 % interval of the
    exact tiling at the same patch size (the one its diff is measured against: the same
    draws); ``None`` when no row passes. Wall time is recorded, not used: on a shared CPU it
    is noise."""
    exact = {row["patch"]: row for row in rows if row["exact"]}

    def inside(row: dict[str, Any]) -> bool:
        low, high = exact[row["patch"]]["accuracy_interval"]
        return low <= row["accuracy"] <= high

    passing = [row for row in rows if row["mean_abs_diff"] <= bound and inside(row)]
    best = min(passing, key=lambda r: (r["macs_per_image_pixel"], r["mean_abs_diff"]),
               default=None)
    keys = ("patch", "halo", "macs_per_image_pixel", "pixel_ratio", "purify_ms_per_image",
            "mean_abs_diff", "max_abs_diff", "accuracy", "accuracy_interval")
    references = {str(patch): {"halo": row["halo"], "accuracy": row["accuracy"],
                               "accuracy_interval": row["accuracy_interval"]}
                  for patch, row in sorted(exact.items())}
    return {"bound": bound, "reference": references, "passing": len(passing),
            "chosen": None if best is None else {key: best[key] for key in keys}}


def rechoose(record: dict[str, Any], bound: float = FIDELITY_BOUND) -> dict[str, Any]:
    """The choice and frontier recomputed from a tiling record's rows (no new measurement)."""
    return {"choice": choose_plan(record["rows"], bound), "frontier": frontier(record["rows"])}


def frontier(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows no other row beats on both MACs per image pixel and mean |diff|."""
    ordered = sorted(rows, key=lambda r: (r["macs_per_image_pixel"], r["mean_abs_diff"]))
    kept: list[dict[str, Any]] = []
    for row in ordered:
        if not kept or row["mean_abs_diff"] < kept[-1]["mean_abs_diff"]:
            kept.append(row)
    return [{key: row[key] for key in ("patch", "halo", "macs_per_image_pixel",
                                       "purify_ms_per_image", "mean_abs_diff", "accuracy")}
            for row in kept]


def measure_tiling(weights: WeightsFile, images: np.ndarray, labels: np.ndarray,
                   spec: TilingSpec, progress: bool = False) -> list[dict[str, Any]]:
    """Every (patch, halo) row, patch by patch; images are float32 NCHW in [0, 1]."""
    if tuple(images.shape[1:]) != tuple(weights.input_shape):
        raise InputError(f"the clean images are {tuple(images.shape[1:])} but the weights take "
                         f"{tuple(weights.input_shape)}; pass --data-dir for their data set")
    halos = halos_for(spec, weights)
    rows: list[dict[str, Any]] = []
    for patch in resolve_patches(spec, weights):
        rows += measure_patch(weights, images, labels, patch, halos, spec, progress)
    return rows


def smallest_halos(rows: list[dict[str, Any]], below: float = CHOICE_MEAN_DIFF
                   ) -> dict[str, dict[str, Any]]:
    """Per patch: the smallest halo whose mean |diff| from exact is under ``below``."""
    chosen: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r["patch"], r["halo"])):
        key = str(row["patch"])
        if key not in chosen and row["mean_abs_diff"] < below:
            chosen[key] = {name: row[name] for name in
                           ("halo", "mean_abs_diff", "max_abs_diff", "relative_cost",
                            "relative_pixels", "accuracy")}
    return chosen


def run_tiling(spec: TilingSpec, weights_name: str | None, progress: bool = True,
               argv: list[str] | None = None) -> dict[str, Any]:
    """The whole sweep on ``weights_name`` (a shipped name or a path; ``None``: the default)
    and its record: machine, command line, revision, subject, rows, the smallest good halo."""
    import torch

    from matt.bench.accuracy import clean_images
    from matt.bench.subjects import resolve_weights_path
    from matt.formats.weights import load_weights, sha256_of

    load_start = load_average()
    context = run_context(argv)
    path = resolve_weights_path(weights_name)
    if path is None:
        raise InputError("no shipped weights found; pass --weights with a weights.pt")
    sha256 = sha256_of(path)  # before reading: the file may be replaced while the sweep runs
    weights = load_weights(path)
    resolve_patches(spec, weights)  # a bad patch fails before the images are read
    data, source = clean_images(weights.dataset, spec.images, spec.data_dir)
    torch.set_num_threads(spec.threads)
    foreign = ForeignLoad()
    rows = measure_tiling(weights, data.images, data.labels, spec, progress)
    return {
        "schema": SCHEMA,
        "run": {**context, "spec": spec.to_dict(),
                "load": {**quiet_verdict(load_start, load_average()),
                         "other_processes_cores": foreign.cores_taken()}},
        "machine": machine_info(spec.threads),
        "subject": {"weights": str(path), "sha256": sha256,
                    "dataset": weights.dataset, "input_shape": list(weights.input_shape),
                    "pool_size": len(weights.pool),
                    "receptive_radius": weights.receptive_radius,
                    "default_tiling": {"patch": weights.tiling.patch,
                                       "halo": weights.tiling.halo}},
        "images": {"count": len(data), "source": source},
        "method": METHOD,
        "rows": rows,
        "smallest_halo": {"mean_abs_diff_below": CHOICE_MEAN_DIFF,
                          "per_patch": smallest_halos(rows)},
        "choice": choose_plan(rows, spec.bound),
        "frontier": frontier(rows),
    }
