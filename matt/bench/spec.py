"""What one ``matt-bench`` run measures: a validated, frozen spec built from the command line."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from matt.errors import SpecError
from matt.runtime.backends import PRECISIONS

COMMANDS = ("latency", "throughput", "roofline", "all")
BACKENDS = ("torch", "onnxruntime", "tensorrt", "torch-cuda")
FAMILIES = ("classifier", "matt", "disco-ensemble", "liif-no-local-ensemble",
            "matt-disco-encoder", "disco-encoder-whole", "sgemm")
COMMAND_FAMILIES = {"latency": FAMILIES, "throughput": FAMILIES, "all": FAMILIES,
                    "roofline": ("matt", "sgemm")}
DEFAULT_KS = (1, 2, 4, 8, 12)
DEFAULT_BATCHES = {"latency": (1,), "throughput": (64,), "roofline": (64,), "all": (1, 64)}
DEFAULT_SIZES = {"latency": (32, 224), "throughput": (32, 224), "roofline": (32,),
                 "all": (32, 224)}
# ``all`` leaves out batch 64 at 224×224 unless asked: one round takes minutes on a 2-core CPU.
DEFAULT_TABLES = {"all": ((1, 32), (1, 224), (64, 32))}


def table_grid(command: str, batches: tuple[int, ...] | None,
               sizes: tuple[int, ...] | None) -> tuple[tuple[int, int], ...]:
    """The (batch, size) tables: every pair of the given lists, or the command's defaults."""
    if batches is None and sizes is None and command in DEFAULT_TABLES:
        return DEFAULT_TABLES[command]
    return tuple((batch, size) for batch in batches or DEFAULT_BATCHES[command]
                 for size in sizes or DEFAULT_SIZES[command])


def _positive_tuple(name: str, values: tuple[int, ...]) -> None:
    if not values:
        raise SpecError(f"bench spec: {name} needs at least one value")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpecError(f"bench spec: every {name} must be a positive integer, got {value!r}")
    if len(set(values)) != len(values):
        raise SpecError(f"bench spec: {name} has repeated values {list(values)}")


@dataclass(frozen=True)
class BenchSpec:
    """One benchmark run.

    Attributes:
        command: ``latency``, ``throughput``, ``roofline`` or ``all``.
        ks: pool sizes K to sweep.
        tables: (batch size, square image size in pixels) of each table.
        backends: the backends asked for; those that cannot run here are skipped with a reason.
        families: the kinds of row to time (see :mod:`matt.bench.rows`); ``None`` takes the
            command's (every family; ``roofline``: ``matt`` and ``sgemm``).
        precisions: the precisions asked for (``fp32``, ``int8`` on the CPU; ``fp16`` GPU only).
        iterations: timed rounds per table (the paper: 900 of 1000).
        warmup: untimed rounds before them (the paper: 100).
        table_budget_s: wall-clock cap per table; fewer rounds are run when it binds, and the
            JSON says so.
        threads: CPU threads for torch and ONNX Runtime.
        patch: patch size in pixels at every size; ``None`` keeps the bundle's patch grid
            (patches per side) at every image size.
        halo: halo in pixels; ``None`` takes the bundle's.
        accuracy_images: clean images for the INT8-against-FP32 accuracy check (0 skips it).
        calibration_images: images the benchmark's own export calibrates INT8 on (fewer than
            ``matt-export``'s default, to keep the export short; the accuracy check measures
            the bundle so made).
        data_dir: where the bundle's dataset lies, for that check (``None``: its default).
    """

    command: str
    ks: tuple[int, ...] = DEFAULT_KS
    tables: tuple[tuple[int, int], ...] = ((1, 32),)
    backends: tuple[str, ...] = BACKENDS
    families: tuple[str, ...] | None = None
    precisions: tuple[str, ...] = PRECISIONS
    iterations: int = 900
    warmup: int = 100
    table_budget_s: float = 600.0
    threads: int = 2
    patch: int | None = None
    halo: int | None = None
    accuracy_images: int = 1000
    calibration_images: int = 64
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise SpecError(f"bench spec: command must be one of {COMMANDS}, not {self.command!r}")
        _positive_tuple("ks", self.ks)
        if not self.tables or len(set(self.tables)) != len(self.tables):
            raise SpecError(f"bench spec: tables must be distinct (batch, size) pairs, got "
                            f"{list(self.tables)}")
        for pair in self.tables:
            _positive_tuple("(batch, size)", tuple(pair))
        for name, allowed in (("backends", BACKENDS), ("precisions", PRECISIONS),
                              ("families", FAMILIES)):
            values = getattr(self, name)
            if name == "families" and values is None:
                continue
            unknown = [v for v in values if v not in allowed]
            if not values or unknown:
                raise SpecError(f"bench spec: {name} must be among {', '.join(allowed)}, "
                                f"got {list(values)}")
        if min(size for _, size in self.tables) < 8:
            raise SpecError(f"bench spec: image sizes must be >= 8 pixels, got "
                            f"{sorted({size for _, size in self.tables})}")
        if self.iterations < 1 or self.warmup < 0:
            raise SpecError("bench spec: iterations must be >= 1 and warmup >= 0, got "
                            f"{self.iterations} and {self.warmup}")
        if not self.table_budget_s > 0:
            raise SpecError(f"bench spec: table budget must be > 0 s, got {self.table_budget_s}")
        if self.threads < 1:
            raise SpecError(f"bench spec: threads must be >= 1, got {self.threads}")
        if self.patch is not None and self.patch < 1:
            raise SpecError(f"bench spec: patch must be >= 1 pixel, got {self.patch}")
        if self.halo is not None and self.halo < 0:
            raise SpecError(f"bench spec: halo must be >= 0 pixels, got {self.halo}")
        if self.calibration_images < 1:
            raise SpecError(f"bench spec: calibration images must be >= 1, got "
                            f"{self.calibration_images}")
        if self.accuracy_images < 0:
            raise SpecError(f"bench spec: accuracy images must be >= 0, got "
                            f"{self.accuracy_images}")

    @property
    def row_families(self) -> tuple[str, ...]:
        return self.families or COMMAND_FAMILIES[self.command]

    @property
    def max_k(self) -> int:
        return max(self.ks)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
