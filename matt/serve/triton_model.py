"""The Triton Python-backend model: copied as ``<repository>/<model>/<version>/model.py``.

Triton runs this file inside its Python-backend stub, one process per model instance. It loads
the bundle beside it (``<version>/bundle``, found from the repository path Triton passes, so
the repository can live anywhere), reads the serving options from the config's ``parameters``
and answers each (dynamically batched) group of requests with one pipeline call. A request
that fails validation gets ``INVALID_ARG`` (HTTP 400, gRPC INVALID_ARGUMENT) with just the
message; anything else is logged here and answered with a generic internal error, never a
traceback. Defense metrics go to Triton's Prometheus endpoint through the backend's metric API.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from matt.errors import InputError
from matt.runtime import Pipeline
from matt.serve.handler import IMAGES, PICTURES, ServedModel
from matt.serve.options import UNDEFENDED
from matt.serve.pictures import limit_pillow

BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def _parameters(model_config: dict[str, Any]) -> dict[str, str]:
    return {key: entry["string_value"]
            for key, entry in model_config.get("parameters", {}).items()}


def _input(request: Any, name: str) -> Any:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy()


def _refusal(message: str) -> Any:
    return pb_utils.InferenceResponse(
        error=pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG))


class _Metrics:
    """The defense's counters on Triton's metrics port (one stub process per instance).

    A metric family must outlive its metrics (the backend refuses updates otherwise): every
    family is kept in ``self._families``.
    """

    def __init__(self, model: str, members: list[str]) -> None:
        counter = pb_utils.MetricFamily.COUNTER
        self.model = model
        self._families: list[Any] = []
        _family = self._family
        self._refusals = _family("matt_refusals_total",
                                 "Requests refused by the model, by reason", counter)
        self._refused: dict[str, Any] = {}
        self.purified = _family("matt_images_purified_total", "Images purified",
                                counter).Metric(labels={"model": model})
        draws = _family("matt_purifier_draws_total",
                        "Patches purified, by the pool member drawn for them", counter)
        self.draws = [draws.Metric(labels={"model": model, "member": name}) for name in members]
        histogram = getattr(pb_utils.MetricFamily, "HISTOGRAM", None)
        self.batch_sizes = None
        if histogram is not None:
            self.batch_sizes = _family("matt_batch_size", "Images per executed batch",
                                       histogram).Metric(labels={"model": model},
                                                         buckets=BATCH_BUCKETS)

    def _family(self, name: str, description: str, kind: Any) -> Any:
        family = pb_utils.MetricFamily(name=name, description=description, kind=kind)
        self._families.append(family)
        return family

    def refused(self, reason: str) -> None:
        if reason not in self._refused:
            self._refused[reason] = self._refusals.Metric(
                labels={"model": self.model, "reason": reason})
        self._refused[reason].increment(1)

    def ran(self, images: int) -> None:
        if self.batch_sizes is not None:  # Triton's Python backend has histograms since 24.08
            self.batch_sizes.observe(images)


class _CountingDraw:
    """Wraps the pipeline's engine draw to count, per pool member, the patches drawn for it."""

    def __init__(self, draw: Any, counters: list[Any]) -> None:
        self._draw, self._counters = draw, counters

    def draw(self, count: int) -> np.ndarray:
        drawn = self._draw.draw(count)
        for member, times in enumerate(np.bincount(drawn, minlength=len(self._counters))):
            if times:
                self._counters[member].increment(float(times))
        return drawn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._draw, name)


class TritonPythonModel:
    """One instance of ``matt``, ``matt_purify`` or ``classifier``."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.model_name = config["name"]
        parameters = _parameters(config)
        max_pixels = int(parameters["max_picture_pixels"])
        limit_pillow(max_pixels)
        if int(parameters["threads"]) > 0:  # this process is the instance's own
            os.environ["MATT_ORT_THREADS"] = parameters["threads"]
        bundle = Path(args["model_repository"]) / args["model_version"] / "bundle"
        pipeline = Pipeline.load(bundle, backend=parameters["backend"])
        self.pipeline = pipeline
        task = parameters["task"]
        members = [pipeline.manifest.purifiers[i].name for i in pipeline.pool_indices]
        self.metrics = _Metrics(self.model_name, members if task != UNDEFENDED else [])
        if task != UNDEFENDED:
            # The pipeline's draw is private; counting it is the only way to see the draws.
            pipeline._draw = _CountingDraw(pipeline._draw, self.metrics.draws)
        self.served = ServedModel(
            pipeline, task, parameters["output"], pipeline.manifest.input_shape,
            max_picture_bytes=int(parameters["max_picture_bytes"]), max_picture_pixels=max_pixels)
        self.defended = task != UNDEFENDED

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        accepted, batches = [], []
        for index, request in enumerate(requests):
            try:
                batches.append(self.served.images_from(_input(request, IMAGES),
                                                       _input(request, PICTURES)))
                accepted.append(index)
            except InputError as exc:
                self.metrics.refused(getattr(exc, "reason", "other"))
                responses[index] = _refusal(str(exc))
        for index, answer in zip(accepted, self._run(batches), strict=True):
            responses[index] = answer
        return responses

    def _run(self, batches: list[Any]) -> list[Any]:
        if not batches:
            return []
        images = sum(len(batch) for batch in batches)
        try:
            answers = self.served.run(batches)
        except InputError as exc:
            self.metrics.refused(getattr(exc, "reason", "other"))
            return [_refusal(str(exc)) for _ in batches]
        except Exception:
            pb_utils.Logger.log_error(f"{self.model_name}: {traceback.format_exc()}")
            message = f"{self.model_name}: internal error, see the server log"
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
                    for _ in batches]
        self.metrics.ran(images)
        if self.defended:
            self.metrics.purified.increment(float(images))
        return [pb_utils.InferenceResponse([pb_utils.Tensor(self.served.output_name, answer)])
                for answer in answers]

    def finalize(self) -> None:
        self.pipeline.close()
