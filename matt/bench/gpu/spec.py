"""What one GPU run measures: a validated spec, its two presets, and the command line.

The command line is argparse (no click): the script must run where only torch and numpy are
installed. Its errors follow the project's CLI convention: the usage line, then one
``error: ...`` line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from matt.errors import SpecError

DEFAULT_OUT = Path("runs/bench/gpu")
COMMITTED_RECORDS = Path("benchmarks/results")
TEST_MODES = ("run", "collect", "skip")
TEST_SHARE = 0.3  # of the budget, at most, for the gpu tests; what they leave goes to the tables
REPORT_RESERVE_S = 5.0  # kept back from the tables for writing the JSON and Markdown


@dataclass(frozen=True)
class GpuSpec:
    """One run.

    Attributes:
        device: ``cuda``, ``cuda:N`` or ``cpu`` (the dry run's).
        sizes: square image sizes in pixels; one table per size and batch.
        batches: batch sizes (images per call).
        ks: MATT pool sizes K.
        disco_ks: DISCO ensemble sizes (K encoders on the whole image).
        warmup: untimed rounds per table (every row once a round).
        iterations: timed rounds per table, unless the table's share of the budget ends first.
        budget_s: wall-clock seconds for the whole run, from the process start.
        tests: ``run`` the gpu tests, ``collect`` them only (the dry run), or ``skip``.
        weights: a ``weights.pt`` or shipped name; ``None`` for the shipped cifar10.
        threads: torch CPU threads (``None``: torch's default).
    """

    device: str = "cuda"
    sizes: tuple[int, ...] = (32, 224)
    batches: tuple[int, ...] = (1, 64)
    ks: tuple[int, ...] = tuple(range(1, 13))
    disco_ks: tuple[int, ...] = (1, 12)
    warmup: int = 10
    iterations: int = 200
    budget_s: float = 450.0
    tests: str = "run"
    weights: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.device != "cpu" and not (self.device == "cuda" or (
                self.device.startswith("cuda:") and self.device[5:].isdigit())):
            raise SpecError(f"gpu bench: device must be cuda, cuda:N or cpu, got {self.device!r}")
        for name in ("sizes", "batches", "ks", "disco_ks"):
            values = getattr(self, name)
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                                 for v in values) or len(set(values)) != len(values):
                raise SpecError(f"gpu bench: {name} must be distinct positive integers, got "
                                f"{list(values)}")
        if min(self.sizes) < 8:
            raise SpecError(f"gpu bench: image sizes must be >= 8 pixels, got {list(self.sizes)}")
        if self.warmup < 0 or self.iterations < 1:
            raise SpecError(f"gpu bench: warmup must be >= 0 and iterations >= 1, got "
                            f"{self.warmup} and {self.iterations}")
        if not self.budget_s > 0:
            raise SpecError(f"gpu bench: the budget must be > 0 s, got {self.budget_s}")
        if self.tests not in TEST_MODES:
            raise SpecError(f"gpu bench: tests must be one of {', '.join(TEST_MODES)}, "
                            f"got {self.tests!r}")
        if self.threads is not None and self.threads < 1:
            raise SpecError(f"gpu bench: threads must be >= 1, got {self.threads}")

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def torch_device(self) -> str:
        return "cuda:0" if self.device == "cuda" else self.device

    @property
    def tables(self) -> tuple[tuple[int, int], ...]:
        """(size, batch) pairs, size-major: a size's pipelines are freed before the next."""
        return tuple((size, batch) for size in self.sizes for batch in self.batches)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The dry run: the whole flow on the CPU in seconds (two small sizes, so the per-size
# pipelines are built and freed, both of which the shipped classifier takes; two batches;
# K 1, 2; one DISCO member; tests collected, not run).
DRY_RUN = GpuSpec(device="cpu", sizes=(32, 40), batches=(1, 2), ks=(1, 2), disco_ks=(1,),
                  warmup=1, iterations=2, budget_s=120.0, tests="collect")


class _Formatter(argparse.HelpFormatter):
    def add_usage(self, usage: str | None, actions: Any, groups: Any,
                  prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Usage: " if prefix is None else prefix)


class _Parser(argparse.ArgumentParser):
    """argparse laid out as the click commands are (:mod:`matt.cli_common`): a wrong value is
    one ``error: ...`` line naming the option; an unknown option keeps the usage line and the
    help hint before it. Exit 2 either way."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(formatter_class=_Formatter, **kwargs)

    def error(self, message: str) -> NoReturn:
        unknown = message.startswith("unrecognized arguments: ")
        if unknown or message.startswith("the following arguments are required"):
            self.print_usage(sys.stderr)
            print(f"Try '{self.prog} -h' for help.\n", file=sys.stderr)
        if unknown:
            message = f"No such option '{message.split(': ', 1)[1].split()[0]}'."
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _int_list(text: str) -> tuple[int, ...]:
    """``1,2,4`` or a range ``1-12`` (both ends included), or a mix: ``1-4,8,12``."""
    values: list[int] = []
    try:
        for item in (part.strip() for part in text.split(",") if part.strip()):
            low, _, high = item.partition("-")
            values += range(int(low), int(high) + 1) if high else [int(low)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers (1,2,4 or "
                                         "1-12)") from None
    if not values:
        raise argparse.ArgumentTypeError("needs at least one value")
    return tuple(values)


def build_parser(prog: str) -> argparse.ArgumentParser:
    full = GpuSpec()
    parser = _Parser(prog=prog, description="Time MATT (torch engine, one CUDA stream per "
                     "engine), the classifier alone and DISCO's official formulation on one "
                     "CUDA GPU within a hard wall-clock budget, after the gpu tests; write "
                     "one JSON and one Markdown file.")

    def shown(values: tuple[int, ...]) -> str:
        return ",".join(map(str, values))

    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT,
                        help=f"folder for <name>.json and <name>.md [default: {DEFAULT_OUT}; "
                             f"{COMMITTED_RECORDS} only when given]")
    parser.add_argument("--name", default="gpu", help="file name stem [default: gpu]")
    parser.add_argument("--device", default=None,
                        help="cuda, cuda:N or cpu [default: cuda; --dry-run: cpu]")
    parser.add_argument("--dry-run", action="store_true",
                        help="the whole flow with tiny counts (sizes 32,40, batch 1,2, K 1,2, "
                             "2 rounds, tests collected only), on the CPU unless --device")
    parser.add_argument("--size", dest="sizes", type=_int_list, default=None,
                        help=f"square image sizes in pixels [default: {shown(full.sizes)}]")
    parser.add_argument("--batch", dest="batches", type=_int_list, default=None,
                        help=f"batch sizes [default: {shown(full.batches)}]")
    parser.add_argument("--k", dest="ks", type=_int_list, default=None,
                        help="MATT pool sizes [default: 1-12]")
    parser.add_argument("--disco-k", dest="disco_ks", type=_int_list, default=None,
                        help=f"DISCO ensemble sizes [default: {shown(full.disco_ks)}]")
    parser.add_argument("--warmup", type=int, default=None,
                        help=f"untimed rounds per table [default: {full.warmup}]")
    parser.add_argument("--iterations", type=int, default=None,
                        help=f"timed rounds per table, unless its share of the budget ends "
                             f"first [default: {full.iterations}]")
    parser.add_argument("--budget", dest="budget_s", type=float, default=None,
                        help=f"wall-clock seconds for the whole run [default: {full.budget_s:g}]")
    parser.add_argument("--tests", choices=TEST_MODES, default=None,
                        help="run the gpu tests, collect them only, or skip them "
                             "[default: run; --dry-run: collect]")
    parser.add_argument("--weights", default=None,
                        help="a weights.pt or shipped name [default: the shipped cifar10]")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads [default: torch's]")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return parser


def spec_from_args(args: argparse.Namespace) -> GpuSpec:
    """The preset (full, or the dry run's), with every option given on the command line."""
    base = DRY_RUN if args.dry_run else GpuSpec()
    given = {name: getattr(args, name) for name in
             ("device", "sizes", "batches", "ks", "disco_ks", "warmup", "iterations",
              "budget_s", "tests", "weights", "threads")
             if getattr(args, name) is not None}
    return replace(base, **given)
