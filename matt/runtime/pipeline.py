"""``Pipeline``: a bundle loaded once, then purify / predict batches of queries.

::

    with Pipeline.load("bundles/cifar10") as pipe:      # backend="auto"
        probabilities = pipe.predict(images)            # NCHW (or CHW) in [0, 1], or uint8

``predict`` and ``purify`` take what ML code holds (``docs/api.md``): float32 or float64 in
[0, 1], uint8 in 0..255 (divided by 255), a single CHW image, a torch tensor when torch is
installed. ``classify_undefended`` is the classifier alone, the baseline without MATT.

The ONNX Runtime path imports neither torch nor anything that does; the torch backend is
imported only when asked for.
"""

from __future__ import annotations

import copy
import logging
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from matt.core import EngineDraw, NDArray, PatchPlan, as_image_batch
from matt.errors import BackendUnavailable, InputError
from matt.formats.bundle import Bundle, Manifest, load_bundle
from matt.runtime.backends import EngineRequest, check_precision, get_backend
from matt.runtime.devices import BackendChoice, choose_backend
from matt.runtime.engines.base import Concurrency, EngineSet
from matt.runtime.fused import EVERY_BATCH, check_mode, fused_up_to
from matt.runtime.pool import select_pool
from matt.runtime.scheduler import PIXELS_PER_CALL, PatchScheduler, run_chunked

LOG = logging.getLogger("matt.runtime")


@dataclass
class _Loaded:
    """What every view of one loaded pipeline shares (engines, scheduler, the closed flag)."""

    engines: EngineSet
    scheduler: PatchScheduler
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class Pipeline:
    """Random patch-wise purification in front of a classifier, over one backend's engines.

    Build it with :meth:`load` (a bundle) or :meth:`from_weights` (a ``weights.pt``, torch).
    Safe to call from several threads at once. A context manager; :meth:`close` frees the
    engines.

    Attributes:
        manifest: the bundle's manifest (dataset, input shape, class names, models).
        backend_name: ``onnxruntime``, ``tensorrt`` or ``torch``.
        device: ``cpu`` or ``cuda:N``.
        pool_indices: which of the bundle's purifiers form the pool, in draw order.
        patch, halo: the tiling in pixels.
        seeded: whether the engine draws come from a seed (evaluation) or the OS CSPRNG.
        fused_up_to: batches of at most this many images run the pool as one fused graph
            (0: never; :mod:`matt.runtime.fused`).
    """

    def __init__(self, manifest: Manifest, engines: EngineSet, *, choice: BackendChoice,
                 pool_indices: tuple[int, ...], patch: int, halo: int, seed: int | None,
                 pixels_per_call: int = PIXELS_PER_CALL, fused_up_to: int = 0) -> None:
        self.manifest = manifest
        self.backend_name = choice.backend
        self.device = choice.device
        self.pool_indices = pool_indices
        self.patch, self.halo = patch, halo
        self.seeded = seed is not None
        self.pixels_per_call = pixels_per_call
        self.fused_up_to = fused_up_to if engines.fused is not None else 0
        scheduler = PatchScheduler(engines.purifiers, patch, halo, engines.concurrency,
                                   engines.workers, pixels_per_call=pixels_per_call,
                                   fused=engines.fused, fused_up_to=self.fused_up_to)
        self._loaded = _Loaded(engines, scheduler)
        self._draw = EngineDraw(len(pool_indices), seed)
        self._owner = True
        LOG.info("pipeline %s: %s; pool %s, patch %d, halo %d, %s", manifest.dataset,
                 engines.description, list(pool_indices), patch, halo,
                 "seeded" if self.seeded else "CSPRNG draws")

    @classmethod
    def load(cls, bundle: str | Path | Bundle, backend: str = "auto", device: str | None = None,
             pool: int | Sequence[int] | None = None, patch: int | None = None,
             halo: int | None = None, seed: int | None = None,
             precision: str = "fp32", fused: str = "auto") -> Pipeline:
        """Load a bundle's engines.

        Args:
            bundle: a bundle folder or a loaded :class:`~matt.bundle.Bundle`.
            backend: ``auto`` (TensorRT on a GPU with it, else ONNX Runtime on the GPU, else on
                the CPU), ``onnxruntime``, ``tensorrt`` or ``torch`` (needs the ``weights.pt``
                the bundle was exported from, beside the bundle; see :meth:`from_weights`).
            device: ``cpu``, ``cuda`` or ``cuda:N``; ``None`` takes the GPU when the backend can.
            pool: ``None`` for every purifier, ``K`` for the first K, or a list of indices.
            patch, halo: tiling in pixels; ``None`` keeps the manifest's defaults.
            seed: ``None`` draws engines from the OS CSPRNG; an integer is for evaluation only.
            precision: ``fp32``; ``int8`` loads the bundle's INT8 variants; ``fp16`` TensorRT.
            fused: ``auto`` runs the pool as the bundle's fused graph (one call per query) at
                the batch sizes where it measured faster, ``on`` at every batch, ``off``
                never (:mod:`matt.runtime.fused`); ONNX Runtime only.

        Raises:
            BackendUnavailable: the backend cannot run here (the message lists what can).
            BundleError: the bundle does not verify or lacks the asked precision.
            InputError: a pool, tiling, device or precision that does not fit the bundle.
        """
        if not isinstance(bundle, Bundle):
            bundle = load_bundle(bundle)
        choice = choose_backend(backend, device)
        check_precision(precision, choice.backend)
        mode = check_mode(fused)
        manifest = bundle.manifest
        indices = select_pool(pool, len(manifest.purifiers))
        patch, halo = _tiling(manifest, patch, halo)
        request = _request(manifest, bundle, None, choice.device, indices, precision, patch, halo)
        up_to = _fused_up_to(mode, choice.backend, precision, bundle)
        engines = get_backend(choice.backend).open(replace(request, fused=up_to > 0))
        return cls(manifest, engines, choice=choice, pool_indices=indices, patch=patch,
                   halo=halo, seed=seed, fused_up_to=up_to)

    @classmethod
    def from_weights(cls, weights: str | Path | Any, device: str | None = None,
                     pool: int | Sequence[int] | None = None, patch: int | None = None,
                     halo: int | None = None, seed: int | None = None) -> Pipeline:
        """A torch pipeline straight from a ``weights.pt`` (or a loaded ``WeightsFile``).

        The torch backend needs the modules, which a bundle's ONNX graphs do not give back;
        this is its entry point where no bundle was exported, and the reference that the
        ONNX Runtime and TensorRT pipelines are compared against.
        """
        from matt.runtime.engines import torch_engine

        choice = choose_backend("torch", device)
        loaded = torch_engine.load_weights_file(weights)
        manifest = torch_engine.manifest_from_weights(loaded, weights)
        indices = select_pool(pool, len(manifest.purifiers))
        patch, halo = _tiling(manifest, patch, halo)
        request = _request(manifest, None, loaded, choice.device, indices, "fp32", patch, halo)
        engines = get_backend("torch").open(request)
        return cls(manifest, engines, choice=choice, pool_indices=indices, patch=patch,
                   halo=halo, seed=seed)

    @property
    def pool_size(self) -> int:
        return len(self.pool_indices)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.manifest.input_shape

    def describe(self) -> str:
        """One line: backend, device, threads or streams, precision, pool, tiling, fused."""
        fused = ("" if not self.fused_up_to else "; fused graph at every batch"
                 if self.fused_up_to >= EVERY_BATCH
                 else f"; fused graph up to batch {self.fused_up_to}")
        return (f"{self._loaded.engines.description}; pool {self.pool_size} "
                f"{list(self.pool_indices)}, patch {self.patch}, halo {self.halo}{fused}")

    def plan(self) -> PatchPlan:
        """The patch plan used for the manifest's image size."""
        _, height, width = self.manifest.input_shape
        return self._loaded.scheduler.plan_for(height, width)

    def with_seed(self, seed: int | None) -> Pipeline:
        """A view sharing these engines with its own draw stream (``None``: the CSPRNG).

        For evaluation that needs reproducible draws per request while other threads use the
        same engines; closing a view leaves the engines open.
        """
        view = copy.copy(self)
        view._draw = EngineDraw(self.pool_size, seed)
        view.seeded = seed is not None
        view._owner = False
        return view

    def purify(self, images: Any) -> NDArray:
        """Random patch-wise purification: float32 in [0, 1], the shape of ``images``.

        ``images``: NCHW or one CHW image; float32 / float64 in [0, 1] or uint8 in 0..255;
        a numpy array or a torch tensor. Values outside the range are an :class:`InputError`.
        """
        batch, single = self._check(images)
        purified = self._loaded.scheduler.purify(batch, self._draw)
        return purified[0] if single else purified

    def predict(self, images: Any) -> NDArray:
        """Probabilities (N, classes), float32, of the MATT-purified images (the product).

        Takes what :meth:`purify` takes; one CHW image gives (classes,).
        """
        batch, single = self._check(images)
        probabilities = self._classify(self._loaded.scheduler.purify(batch, self._draw))
        return probabilities[0] if single else probabilities

    def classify_undefended(self, images: Any) -> NDArray:
        """Probabilities of the classifier alone, without MATT: the undefended baseline."""
        batch, single = self._check(images)
        probabilities = self._classify(batch)
        return probabilities[0] if single else probabilities

    def classify(self, images: Any) -> NDArray:
        """Deprecated name of :meth:`classify_undefended` (kept for one release)."""
        warnings.warn("Pipeline.classify is the undefended classifier and is renamed "
                      "classify_undefended; use predict for the defended model",
                      DeprecationWarning, stacklevel=2)
        return self.classify_undefended(images)

    def _classify(self, images: NDArray) -> NDArray:
        classifier = self._loaded.engines.classifier
        if self._loaded.engines.concurrency is Concurrency.STREAMS:
            return classifier.run(images)  # GPU runners split by their own capacity
        return run_chunked(classifier, images, self.pixels_per_call)

    def _check(self, images: Any) -> tuple[NDArray, bool]:
        if self._loaded.closed:
            raise BackendUnavailable("this pipeline was closed; load it again")
        return as_image_batch(images, self.manifest.input_shape)

    def close(self) -> None:
        """Free the engines (only the pipeline that loaded them does; views do nothing)."""
        if not self._owner:
            return
        with self._loaded.lock:
            if self._loaded.closed:
                return
            self._loaded.closed = True
        self._loaded.scheduler.close()
        self._loaded.engines.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Pipeline({self.manifest.dataset}: {self.describe()})"


def _tiling(manifest: Manifest, patch: int | None, halo: int | None) -> tuple[int, int]:
    patch = manifest.patch if patch is None else patch
    halo = manifest.halo if halo is None else halo
    if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1:
        raise InputError(f"patch must be a positive number of pixels, got {patch!r}")
    if isinstance(halo, bool) or not isinstance(halo, int) or halo < 0:
        raise InputError(f"halo must be a number of pixels >= 0, got {halo!r}")
    radius = max((m.receptive_radius for m in manifest.purifiers), default=0)
    if halo < radius:
        LOG.info("halo %d is under the purifiers' receptive radius %d: patches are an "
                 "approximation of whole-image purification", halo, radius)
    return patch, halo


def _fused_up_to(mode: str, backend: str, precision: str, bundle: Bundle) -> int:
    """The fused rule for this load: 0 where the fused graph is off, absent or not this
    backend's; ``on`` with a backend that cannot run it is an :class:`InputError`."""
    if mode == "off":
        return 0
    if backend == "tensorrt" and mode == "on":
        return fused_up_to(mode, precision)  # one engine for the pool; not auto's until measured
    if backend != "onnxruntime":
        if mode == "on":
            raise InputError(f"fused='on' runs the bundle's fused graph with onnxruntime or "
                             f"tensorrt; backend {backend!r} runs one engine per member")
        return 0
    if mode == "auto" and bundle.fused_path("int8" if precision == "int8" else "fp32") is None:
        return 0
    return fused_up_to(mode, precision)


def _request(manifest: Manifest, bundle: Bundle | None, weights: Any, device: str,
             indices: tuple[int, ...], precision: str, patch: int, halo: int) -> EngineRequest:
    channels, height, width = manifest.input_shape
    plan = PatchPlan.for_patch(height, width, patch, halo)
    window_h, window_w = plan.window_shape
    return EngineRequest(bundle, indices, precision, device, (channels, window_h, window_w),
                         plan.patches_per_image, weights)
