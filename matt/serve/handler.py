"""What a served model does with requests, without Triton: validate, run one batch, split.

The Triton model (``triton_model.py``) is glue around :class:`ServedModel`: it hands over
the input tensors of each request and turns the results and :class:`InputError` s into
responses. Keeping this part free of Triton makes it testable on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from matt.core import check_image_batch
from matt.errors import InputError
from matt.serve.options import CLASSIFY, PURIFY, TASKS
from matt.serve.pictures import decode_pictures

IMAGES, PICTURES = "images", "images_png"
PROBABILITIES, LABEL, PURIFIED = "probabilities", "label", "purified"


class ImagePipeline(Protocol):
    """The part of :class:`matt.runtime.Pipeline` a served model uses."""

    def predict(self, images: np.ndarray) -> np.ndarray: ...

    def classify_undefended(self, images: np.ndarray) -> np.ndarray: ...

    def purify(self, images: np.ndarray) -> np.ndarray: ...


REFUSALS = ("inputs", "nan", "range", "shape", "picture")


def refusal_reason(message: str, *, picture: bool) -> str:
    """The metric label of a refused request."""
    if picture:
        return "picture"
    if "NaN" in message:
        return "nan"
    return "range" if "[0, 1]" in message else "shape"


def _refused(reason: str, message: str) -> InputError:
    error = InputError(message)
    error.reason = reason  # type: ignore[attr-defined]
    return error


def output_name(task: str, output: str) -> str:
    """The one output tensor a task answers with."""
    if task == PURIFY:
        return PURIFIED
    return LABEL if output == "label" else PROBABILITIES


class ServedModel:
    """One task (``matt``, ``matt_purify`` or ``classifier``) served over a pipeline.

    Args:
        pipeline: loaded once per model instance; draws fresh randomness on every call.
        task: which of :data:`matt.serve.options.TASKS` this model is.
        output: ``probs`` or ``label`` (ignored by ``matt_purify``).
        input_shape: (C, H, W) the pipeline takes.
        max_picture_bytes, max_picture_pixels: limits on ``images_png`` pictures.
    """

    def __init__(self, pipeline: ImagePipeline, task: str, output: str,
                 input_shape: tuple[int, int, int], *, max_picture_bytes: int,
                 max_picture_pixels: int) -> None:
        if task not in TASKS:
            raise InputError(f"unknown task {task!r}; known: {TASKS}")
        self.pipeline = pipeline
        self.task = task
        self.output = output
        self.input_shape = input_shape
        self.max_picture_bytes = max_picture_bytes
        self.max_picture_pixels = max_picture_pixels
        self.output_name = output_name(task, output)

    def images_from(self, images: np.ndarray | None, pictures: np.ndarray | None) -> np.ndarray:
        """The validated float32 NCHW batch of one request, from exactly one of its inputs.

        Raises:
            InputError: neither or both inputs, or an input that fails validation; its
                ``reason`` attribute (one of :data:`REFUSALS`) feeds the refusal metric.
        """
        if (images is None) == (pictures is None):
            raise _refused("inputs", f"send exactly one input: {IMAGES!r} (FP32 [N, C, H, W] "
                           f"in [0, 1]) or {PICTURES!r} (BYTES [N, 1], PNG or JPEG files)")
        channels, height, width = self.input_shape
        try:
            if images is not None:
                return check_image_batch(images, channels=channels, height=height, width=width)
            files: Sequence[Any] = np.asarray(pictures, dtype=object).reshape(-1)
            return decode_pictures(files, self.input_shape, max_bytes=self.max_picture_bytes,
                                   max_pixels=self.max_picture_pixels, name=PICTURES)
        except InputError as exc:
            exc.reason = refusal_reason(str(exc), picture=images is None)  # type: ignore[attr-defined]
            raise

    def run(self, batches: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the requests' batches as one pipeline call; one output array per request.

        Each image gets its own random draws, also when several requests were batched.
        """
        if not batches:
            return []
        joined = np.concatenate(batches) if len(batches) > 1 else batches[0]
        answers = self._answer(joined)
        bounds = np.cumsum([len(batch) for batch in batches])[:-1]
        return list(np.split(answers, bounds))

    def _answer(self, images: np.ndarray) -> np.ndarray:
        if self.task == PURIFY:
            return np.ascontiguousarray(self.pipeline.purify(images), dtype=np.float32)
        defended = self.task == CLASSIFY
        probabilities = np.ascontiguousarray(
            self.pipeline.predict(images) if defended
            else self.pipeline.classify_undefended(images),
            dtype=np.float32)
        if self.output_name == LABEL:
            return probabilities.argmax(axis=1).astype(np.int64).reshape(-1, 1)
        return probabilities
