"""The rows of a table: what each one runs, on which backend, and the work it does.

Every purifier row times *purification only* (the defense's own cost, what grows or not with
K); the classifier-alone row is the undefended baseline the purifier rows add to. Families:

- ``classifier``: the classifier alone.
- ``matt``: random patch-wise purification by the first K members of the subject's pool.
- ``disco-ensemble``: DISCO's official formulation (LIIF, local ensemble): K encoders on the
  whole image, one decodes. Random weights in DISCO's official shape (none ship here).
- ``liif-no-local-ensemble``: DISCO's LIIF at K = 1 without local ensemble (paper F.1).
- ``matt-disco-encoder``: MATT with DISCO's encoder and MLP widths as a fully convolutional
  purifier (EDSR 16 blocks × 64, decoder 4 × 256), tiled like the subject.
- ``disco-encoder-whole``: one such purifier on the whole image, no tiling: separates what the
  formulation saves from what the halos cost.
- ``sgemm``: a large float32 matrix product, the machine's measured peak (batch > 1 tables).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from matt.bench.spec import BenchSpec
from matt.bench.subjects import BundleCache, Subject
from matt.bench.timing import TimedRow
from matt.core import PatchPlan
from matt.defense import RandomPatchPurifier
from matt.models import DiscoEnsemble, DiscoSpec, LiifPurifier, PurifierSpec, build_purifier
from matt.runtime.backends import precisions_by_backend

SGEMM_SIZE = 1536
DISCO_ENCODER_SPEC = PurifierSpec(encoder="edsr", features=64, blocks=16,
                                  decoder_widths=(256, 256, 256, 256))
BATCH_ONE_FAMILIES = ("disco-ensemble", "liif-no-local-ensemble", "matt-disco-encoder",
                      "disco-encoder-whole")
DEFAULT_PRECISION = {"torch": "fp32", "torch-cuda": "fp32", "onnxruntime": "fp32",
                     "tensorrt": "fp16"}
BACKEND_PRECISIONS = {"torch": ("fp32",), "torch-cuda": ("fp32",),  # torch eager modules
                      "onnxruntime": precisions_by_backend()["onnxruntime"],
                      "tensorrt": precisions_by_backend()["tensorrt"]}


@dataclass(frozen=True)
class TableKey:
    """One table: a batch size and a square image size, in pixels."""

    batch: int
    size: int

    @property
    def name(self) -> str:
        return f"batch{self.batch}-{self.size}x{self.size}"


@dataclass
class TableRows:
    """The rows built for a table, and those left out with the reason."""

    rows: list[TimedRow] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, call: Callable[[], object], **info: Any) -> None:
        self.rows.append(TimedRow(label, call, info))

    def skip(self, label: str, reason: str) -> None:
        self.skipped[label] = reason


def label(family: str, backend: str, precision: str, k: int | None = None) -> str:
    return f"{family}/{backend}-{precision}" + ("" if k is None else f"/K={k}")


def backend_reason(backend: str) -> str | None:
    """Why ``backend`` cannot run on this machine, or ``None``."""
    if backend == "torch":
        return None
    if backend == "onnxruntime":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "onnxruntime is not installed"
        return _runtime_reason()
    if not torch.cuda.is_available():
        return "no CUDA GPU on this machine (torch.cuda.is_available() is False)"
    if backend == "tensorrt":
        from matt.runtime.devices import unavailable_reason

        return unavailable_reason("tensorrt", "cuda:0")
    return _runtime_reason()


def _runtime_reason() -> str | None:
    try:
        from matt.runtime import Pipeline  # noqa: F401
    except ImportError as exc:
        return f"matt.runtime.Pipeline cannot be imported ({exc})"
    return None


class RowBuilder:
    """Builds the rows of each table for one run; models are built once and shared."""

    def __init__(self, spec: BenchSpec, subject: Subject, bundles: BundleCache,
                 families: tuple[str, ...], ks: tuple[int, ...]) -> None:
        self.spec, self.subject, self.bundles, self.families = spec, subject, bundles, families
        self.ks = tuple(sorted(ks))
        self.backend_reasons = {b: backend_reason(b) for b in spec.backends}
        self._pool = subject.weights.build_pool()
        self._classifier = subject.weights.build_classifier()
        self._disco_members: list[LiifPurifier] = []
        self._disco_encoder_pool: list[torch.nn.Module] = []
        self._pipelines: dict[tuple[Any, ...], Any] = {}

    # -- shared pieces --------------------------------------------------------------------
    def _images(self, key: TableKey) -> tuple[np.ndarray, torch.Tensor]:
        rng = np.random.default_rng(key.batch * 100_003 + key.size)
        images = rng.random((key.batch, self.subject.channels, key.size, key.size),
                            dtype=np.float32)
        return images, torch.from_numpy(images)

    def _plan(self, key: TableKey) -> PatchPlan:
        return PatchPlan.for_patch(key.size, key.size, self.subject.patch_for(key.size,
                                   self.spec.patch), self.subject.halo(self.spec.halo))

    def _tiling_info(self, key: TableKey, macs: list[int]) -> dict[str, Any]:
        plan = self._plan(key)
        pixels = key.batch * plan.pixels_processed
        mean_macs = float(np.mean(macs))
        return {"patch": plan.patch_h, "halo": plan.halo, "pixels_processed": pixels,
                "macs_per_pixel": mean_macs, "flops_per_call": 2.0 * mean_macs * pixels}

    def _precisions_for(self, backend: str) -> list[str]:
        return [p for p in self.spec.precisions if p in BACKEND_PRECISIONS[backend]]

    # -- the table ------------------------------------------------------------------------
    def build(self, key: TableKey) -> TableRows:
        rows = TableRows()
        images, tensor = self._images(key)
        for backend, reason in self.backend_reasons.items():
            if reason is not None:
                rows.skip(f"*/{backend}", reason)
        if "classifier" in self.families:
            self._classifier_rows(rows, key, images, tensor)
        if "matt" in self.families:
            self._matt_rows(rows, key, images, tensor)
        if key.batch == 1:
            self._disco_rows(rows, key, tensor)
        else:
            for family in BATCH_ONE_FAMILIES:
                if family in self.families:
                    rows.skip(f"{family}/*", "timed at batch 1 only (Appendix C's setting); at "
                                             f"batch {key.batch} one round would take about "
                                             f"{key.batch}x longer on this CPU")
            if "sgemm" in self.families:
                self._sgemm_rows(rows)
        return rows

    def _usable(self, backend: str) -> bool:
        return backend in self.backend_reasons and self.backend_reasons[backend] is None

    def _classifier_rows(self, rows: TableRows, key: TableKey, images: np.ndarray,
                         tensor: torch.Tensor) -> None:
        common = {"family": "classifier", "k": None, "batch": key.batch, "size": key.size}
        if self._usable("torch"):
            classifier = self._classifier
            rows.add(label("classifier", "torch", "fp32"), _torch_call(classifier, tensor),
                     backend="torch", precision="fp32", **common)
        for backend in ("onnxruntime", "tensorrt"):
            if not self._usable(backend):
                continue
            precision = DEFAULT_PRECISION[backend]
            pipeline = self._pipeline(rows, key, backend, precision, min(self.ks), "classifier")
            if pipeline is not None:
                rows.add(label("classifier", backend, precision),
                         _bind(pipeline.classify_undefended, images), backend=backend,
                         precision=precision, **common)
        if self._usable("torch-cuda"):
            module = copy.deepcopy(self._classifier).to("cuda")
            rows.add(label("classifier", "torch-cuda", "fp32"),
                     _cuda_call(module, tensor.to("cuda")), backend="torch-cuda",
                     precision="fp32", **common)

    def _matt_rows(self, rows: TableRows, key: TableKey, images: np.ndarray,
                   tensor: torch.Tensor) -> None:
        plan = self._plan(key)
        for k in self.ks:
            macs = [m.spec.macs_per_pixel for m in self.subject.weights.pool[:k]]
            common = {"family": "matt", "k": k, "batch": key.batch, "size": key.size,
                      **self._tiling_info(key, macs)}
            if self._usable("torch"):
                defense = RandomPatchPurifier(self._pool[:k], plan.patch_h, plan.halo)
                rows.add(label("matt", "torch", "fp32", k), _bind(defense, tensor),
                         backend="torch", precision="fp32", **common)
            for backend in ("onnxruntime", "tensorrt"):
                if not self._usable(backend):
                    continue
                for precision in self._precisions_for(backend):
                    pipeline = self._pipeline(rows, key, backend, precision, k, "matt")
                    if pipeline is not None:
                        rows.add(label("matt", backend, precision, k),
                                 _bind(pipeline.purify, images), backend=backend,
                                 precision=precision, **common)
            if self._usable("torch-cuda"):
                pipeline = self._torch_cuda_pipeline(key, k)
                rows.add(label("matt", "torch-cuda", "fp32", k), _bind(pipeline.purify, images),
                         backend="torch-cuda", precision="fp32", **common)

    def _disco_rows(self, rows: TableRows, key: TableKey, tensor: torch.Tensor) -> None:
        if not self._usable("torch"):
            return
        base = {"backend": "torch", "precision": "fp32", "batch": key.batch, "size": key.size}
        if "disco-ensemble" in self.families:
            for k in sorted({1, *self.ks}):
                ensemble = DiscoEnsemble(self._disco(k)).eval()
                rows.add(label("disco-ensemble", "torch", "fp32", k), _torch_call(ensemble, tensor),
                         family="disco-ensemble", k=k, **base)
        if "liif-no-local-ensemble" in self.families:
            plain = LiifPurifier(DiscoSpec(local_ensemble=False)).eval()
            plain.load_state_dict(self._disco(1)[0].state_dict())
            rows.add(label("liif-no-local-ensemble", "torch", "fp32", 1),
                     _torch_call(plain, tensor), family="liif-no-local-ensemble", k=1, **base)
        if "matt-disco-encoder" in self.families:
            plan = self._plan(key)
            for k in sorted({min(self.ks), max(self.ks)}):
                defense = RandomPatchPurifier(self._disco_encoder(k), plan.patch_h, plan.halo)
                info = self._tiling_info(key, [DISCO_ENCODER_SPEC.macs_per_pixel])
                rows.add(label("matt-disco-encoder", "torch", "fp32", k), _bind(defense, tensor),
                         family="matt-disco-encoder", k=k,
                         receptive_radius=DISCO_ENCODER_SPEC.receptive_radius, **info, **base)
        if "disco-encoder-whole" in self.families:
            pixels = key.batch * key.size * key.size
            macs = DISCO_ENCODER_SPEC.macs_per_pixel
            rows.add(label("disco-encoder-whole", "torch", "fp32", 1),
                     _torch_call(self._disco_encoder(1)[0], tensor), family="disco-encoder-whole",
                     k=1, pixels_processed=pixels, macs_per_pixel=macs,
                     flops_per_call=2.0 * macs * pixels, **base)

    def _sgemm_rows(self, rows: TableRows) -> None:
        rng = np.random.default_rng(0)
        left = rng.random((SGEMM_SIZE, SGEMM_SIZE), dtype=np.float32)
        right = rng.random((SGEMM_SIZE, SGEMM_SIZE), dtype=np.float32)
        flops = 2.0 * SGEMM_SIZE**3
        common = {"family": "sgemm", "k": None, "precision": "fp32", "n": SGEMM_SIZE,
                  "flops_per_call": flops}
        rows.add(label("sgemm", "numpy", "fp32"), lambda: np.matmul(left, right),
                 backend="numpy", **common)
        left_t, right_t = torch.from_numpy(left), torch.from_numpy(right)
        rows.add(label("sgemm", "torch", "fp32"), lambda: torch.mm(left_t, right_t),
                 backend="torch", **common)

    # -- models, built once ---------------------------------------------------------------
    def _disco(self, k: int) -> list[LiifPurifier]:
        while len(self._disco_members) < k:
            torch.manual_seed(len(self._disco_members))
            self._disco_members.append(LiifPurifier(DiscoSpec()).eval())
        return self._disco_members[:k]

    def _disco_encoder(self, k: int) -> list[torch.nn.Module]:
        while len(self._disco_encoder_pool) < k:
            torch.manual_seed(1000 + len(self._disco_encoder_pool))
            self._disco_encoder_pool.append(build_purifier(DISCO_ENCODER_SPEC).eval())
        return self._disco_encoder_pool[:k]

    def _pipeline(self, rows: TableRows, key: TableKey, backend: str, precision: str, k: int,
                  family: str) -> Any:
        """A runtime pipeline over the first ``k`` members, or ``None`` (reason recorded)."""
        from matt.runtime import Pipeline

        cache_key = (key.size, backend, precision, k)
        if cache_key in self._pipelines:
            return self._pipelines[cache_key]
        os.environ["MATT_ORT_THREADS"] = str(self.spec.threads)
        plan = self._plan(key)
        try:
            bundle = self.bundles.bundle_for(key.size)
            pipeline = Pipeline.load(bundle, backend=backend, pool=k, patch=plan.patch_h,
                                     halo=plan.halo, precision=precision,
                                     device="cpu" if backend == "onnxruntime" else None)
        except Exception as exc:  # recorded in the results, never hidden
            rows.skip(label(family, backend, precision, k if family != "classifier" else None),
                      f"{type(exc).__name__}: {exc}")
            return None
        self._pipelines[cache_key] = pipeline
        return pipeline

    def _torch_cuda_pipeline(self, key: TableKey, k: int) -> Any:
        from matt.runtime import Pipeline

        cache_key = (key.size, "torch-cuda", "fp32", k)
        if cache_key not in self._pipelines:
            plan = self._plan(key)
            weights = self.subject.weights
            if key.size != self.subject.native_size:
                weights = replace(weights, input_shape=(self.subject.channels, key.size, key.size))
            self._pipelines[cache_key] = Pipeline.from_weights(
                weights, device="cuda", pool=k, patch=plan.patch_h, halo=plan.halo)
        return self._pipelines[cache_key]

    def close(self) -> None:
        """Free the runtime pipelines of the last table (each table has its own inputs)."""
        for pipeline in self._pipelines.values():
            pipeline.close()
        self._pipelines.clear()


def _bind(function: Callable[[Any], object], argument: Any) -> Callable[[], object]:
    return lambda: function(argument)


def _torch_call(module: torch.nn.Module, tensor: torch.Tensor) -> Callable[[], object]:
    def call() -> object:
        with torch.inference_mode():
            return module(tensor)

    return call


def _cuda_call(module: torch.nn.Module, tensor: torch.Tensor) -> Callable[[], object]:
    def call() -> object:
        with torch.inference_mode():
            output = module(tensor)
        torch.cuda.synchronize()
        return output

    return call
