"""A small client for ``matt-serve`` on ``tritonclient`` (HTTP or gRPC), returning numpy.

Used by the evaluation's remote mode and the demo::

    with MattClient("127.0.0.1:8000") as client:            # or "127.0.0.1:8001", "grpc"
        probabilities = client.predict(images)               # float32 [N, classes]
        labels = client.labels(images)                       # int64 [N]

One client per thread: the underlying connections are not shared between threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from matt.errors import InputError, RemoteError
from matt.serve.handler import IMAGES, LABEL, PICTURES, PROBABILITIES
from matt.serve.options import CLASSIFY, PURIFY

PROTOCOLS = ("http", "grpc")


def _module(protocol: str) -> Any:
    if protocol not in PROTOCOLS:
        raise InputError(f"protocol {protocol!r} is unknown; use one of {PROTOCOLS}")
    try:
        if protocol == "http":
            import tritonclient.http as module
        else:
            import tritonclient.grpc as module
    except ImportError as exc:
        raise RemoteError(f"tritonclient[{protocol}] is not installed ({exc}); "
                          "pip install 'matt[serve]'") from None
    return module


def _is_clients_fault(exc: Exception) -> bool:
    status = str(getattr(exc, "status", lambda: "")() or "")
    return status.startswith("4") or status in ("StatusCode.INVALID_ARGUMENT",
                                                "StatusCode.NOT_FOUND")


class MattClient:
    """Queries one ``matt-serve`` server.

    Args:
        url: ``host:port`` of the server's HTTP or gRPC endpoint.
        protocol: ``http`` or ``grpc``.
        model: the classification model: ``matt`` (defended) or ``classifier`` (undefended,
            served only with ``--expose-undefended``).
        max_batch: larger batches are sent as several requests of at most this many images.
        timeout_s: network timeout of one request.
    """

    def __init__(self, url: str, protocol: str = "http", *, model: str = CLASSIFY,
                 max_batch: int = 64, timeout_s: float = 60.0) -> None:
        self._triton = _module(protocol)
        self.url, self.protocol, self.model, self.max_batch = url, protocol, model, max_batch
        if protocol == "http":
            self._client = self._triton.InferenceServerClient(
                url, connection_timeout=timeout_s, network_timeout=timeout_s)
        else:
            self._client = self._triton.InferenceServerClient(url)
        self._timeout_s = timeout_s
        self._outputs: dict[str, str] = {}

    def ready(self) -> bool:
        """Whether the server is up and every model loaded."""
        try:
            return bool(self._client.is_server_ready())
        except Exception:
            return False

    def output_of(self, model: str) -> str:
        """The output tensor a model answers with (``probabilities``, ``label``, ``purified``)."""
        if model not in self._outputs:
            metadata = self._call(self._metadata, model)
            self._outputs[model] = metadata["outputs"][0]["name"]
        return self._outputs[model]

    def infer(self, model: str, images: np.ndarray | None = None,
              pictures: Sequence[bytes] | None = None) -> np.ndarray:
        """The raw output of ``model`` for a float32 NCHW batch or for encoded pictures."""
        if (images is None) == (pictures is None):
            raise InputError("pass either images or pictures")
        output = self.output_of(model)
        if images is not None:
            images = np.asarray(images)
            parts = [self._infer(model, output, IMAGES, images[start:start + self.max_batch])
                     for start in range(0, len(images), self.max_batch)]
        else:
            files = np.array([[bytes(data)] for data in pictures or ()], dtype=np.object_)
            parts = [self._infer(model, output, PICTURES, files[start:start + self.max_batch])
                     for start in range(0, len(files), self.max_batch)]
        if not parts:
            raise InputError("the batch is empty")
        return np.concatenate(parts)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities, float32 [N, classes]; needs a server started with ``--output probs``."""
        if self.output_of(self.model) != PROBABILITIES:
            raise InputError(f"{self.url}: model {self.model!r} returns labels only "
                             "(served with --output label); use labels()")
        return self.infer(self.model, images)

    def labels(self, images: np.ndarray | None = None,
               pictures: Sequence[bytes] | None = None) -> np.ndarray:
        """Predicted labels, int64 [N], whichever output the server returns."""
        answer = self.infer(self.model, images, pictures)
        if self.output_of(self.model) == LABEL:
            return answer.reshape(-1).astype(np.int64)
        return answer.argmax(axis=1).astype(np.int64)

    def purify(self, images: np.ndarray) -> np.ndarray:
        """Purified images from ``matt_purify``, float32 NCHW in [0, 1]."""
        return self.infer(PURIFY, images)

    def model_metadata(self, model: str | None = None) -> dict[str, Any]:
        """Triton's model metadata (name, versions, inputs and outputs with their shapes)."""
        return dict(self._call(self._metadata, model or self.model))

    def _metadata(self, model: str) -> dict[str, Any]:
        if self.protocol == "grpc":
            return self._client.get_model_metadata(model, as_json=True)
        return self._client.get_model_metadata(model)

    def _infer(self, model: str, output: str, name: str, batch: np.ndarray) -> np.ndarray:
        datatype = "BYTES" if name == PICTURES else "FP32"
        tensor = self._triton.InferInput(name, list(batch.shape), datatype)
        if self.protocol == "http":
            tensor.set_data_from_numpy(batch, binary_data=True)
            wanted = self._triton.InferRequestedOutput(output, binary_data=True)
            result = self._call(self._client.infer, model, [tensor], outputs=[wanted])
        else:
            tensor.set_data_from_numpy(batch)
            wanted = self._triton.InferRequestedOutput(output)
            result = self._call(self._client.infer, model, [tensor], outputs=[wanted],
                                client_timeout=self._timeout_s)
        return result.as_numpy(output)

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        from tritonclient.utils import InferenceServerException

        try:
            return function(*args, **kwargs)
        except InferenceServerException as exc:
            message = exc.message() if hasattr(exc, "message") else str(exc)
            if _is_clients_fault(exc):
                raise InputError(f"{self.url}: {message}") from None
            raise RemoteError(f"{self.url}: {message}") from None
        except (OSError, ConnectionError) as exc:
            raise RemoteError(f"{self.url}: cannot reach the server ({exc})") from None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> MattClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


