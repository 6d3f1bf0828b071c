"""The Triton Python-backend model: copied as ``<repository>/<model>/1/model.py``.

Triton runs this file inside its Python-backend stub, one process per model instance. It reads
the bundle path and the serving options from the ``parameters`` of ``config.pbtxt``, loads a
:class:`matt.runtime.Pipeline` and answers each (dynamically batched) group of requests with one
pipeline call. A request that fails validation gets ``INVALID_ARG`` (HTTP 400, gRPC
INVALID_ARGUMENT) with just the message; anything else is logged here and answered with a
generic internal error, never a traceback.
"""

from __future__ import annotations

import json
import os
import traceback
from typing import Any

import triton_python_backend_utils as pb_utils

from matt.errors import InputError
from matt.runtime import Pipeline
from matt.serve.handler import IMAGES, PICTURES, ServedModel
from matt.serve.pictures import limit_pillow


def _parameters(model_config: dict[str, Any]) -> dict[str, str]:
    return {key: entry["string_value"]
            for key, entry in model_config.get("parameters", {}).items()}


def _input(request: Any, name: str) -> Any:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy()


def _refusal(message: str) -> Any:
    return pb_utils.InferenceResponse(
        error=pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG))


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
        pipeline = Pipeline.load(parameters["bundle"], backend=parameters["backend"])
        self.pipeline = pipeline
        self.served = ServedModel(
            pipeline, parameters["task"], parameters["output"], pipeline.manifest.input_shape,
            max_picture_bytes=int(parameters["max_picture_bytes"]), max_picture_pixels=max_pixels)

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        accepted, batches = [], []
        for index, request in enumerate(requests):
            try:
                batches.append(self.served.images_from(_input(request, IMAGES),
                                                       _input(request, PICTURES)))
                accepted.append(index)
            except InputError as exc:
                responses[index] = _refusal(str(exc))
        for index, answer in zip(accepted, self._run(batches), strict=True):
            responses[index] = answer
        return responses

    def _run(self, batches: list[Any]) -> list[Any]:
        try:
            answers = self.served.run(batches)
        except InputError as exc:
            return [_refusal(str(exc)) for _ in batches]
        except Exception:
            pb_utils.Logger.log_error(f"{self.model_name}: {traceback.format_exc()}")
            message = f"{self.model_name}: internal error, see the server log"
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
                    for _ in batches]
        return [pb_utils.InferenceResponse([pb_utils.Tensor(self.served.output_name, answer)])
                for answer in answers]

    def finalize(self) -> None:
        self.pipeline.close()
