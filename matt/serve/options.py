"""What a served model repository is made of: validated once, written into every config."""

from __future__ import annotations

from dataclasses import dataclass

from matt.errors import SpecError
from matt.runtime.backends import backend_names

OUTPUTS = ("probs", "label")
BACKENDS = ("auto", *backend_names())  # the runtime's registry

# The models a repository can hold, and what each one does with an image batch.
CLASSIFY, PURIFY, UNDEFENDED = "matt", "matt_purify", "classifier"
TASKS = (CLASSIFY, PURIFY, UNDEFENDED)

# Picture inputs: bytes of one encoded file, and the pixel count Pillow may decode.
DEFAULT_MAX_PICTURE_BYTES = 1 << 20
DEFAULT_MAX_PICTURE_PIXELS = 1 << 22
# One request body (the proxy refuses larger ones before reading them), and the seconds the
# whole body may take to arrive.
DEFAULT_MAX_BODY_BYTES = 16 << 20
DEFAULT_BODY_TIMEOUT_S = 20


@dataclass(frozen=True)
class ServeOptions:
    """How the models are served.

    Attributes:
        backend: the runtime backend each model instance loads (``auto`` picks TensorRT where
            a GPU and engines exist, else ONNX Runtime on the CPU).
        max_batch: the most images in one request and in one dynamically formed batch.
        max_queue_delay_us: how long Triton holds a request to batch it with others, in µs.
        instances: model instances (processes) per model; each runs batches independently.
        output: ``probs`` returns probabilities (the score-based threat model), ``label`` only
            the predicted class (the decision-based threat model).
        expose_undefended: also serve ``classifier``, the undefended baseline for tests and
            evaluation; never on in production.
        expose_purify: also serve ``matt_purify``, the purified images. Off by default: the
            defense's own output lets an attacker attack a local copy of the classifier.
        threads: intra-op threads of each instance's runtime (0: the runtime's default).
        max_picture_bytes: the largest encoded picture accepted on ``images_png``.
        max_picture_pixels: Pillow's decompression-bomb limit, in pixels.
        max_body_bytes: the largest request body the proxy passes on.
        body_timeout_s: how long the whole body of one request may take to arrive.
    """

    backend: str = "auto"
    max_batch: int = 64
    max_queue_delay_us: int = 2000
    instances: int = 1
    output: str = "probs"
    expose_undefended: bool = False
    threads: int = 0
    max_picture_bytes: int = DEFAULT_MAX_PICTURE_BYTES
    max_picture_pixels: int = DEFAULT_MAX_PICTURE_PIXELS
    expose_purify: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout_s: int = DEFAULT_BODY_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise SpecError(f"serve: backend {self.backend!r} is unknown; use one of {BACKENDS}")
        if self.output not in OUTPUTS:
            raise SpecError(f"serve: output {self.output!r} is unknown; use one of {OUTPUTS}")
        for name, value, low in (("max_batch", self.max_batch, 1),
                                 ("max_queue_delay_us", self.max_queue_delay_us, 0),
                                 ("instances", self.instances, 1), ("threads", self.threads, 0),
                                 ("max_picture_bytes", self.max_picture_bytes, 1),
                                 ("max_picture_pixels", self.max_picture_pixels, 1),
                                 ("max_body_bytes", self.max_body_bytes, 1024),
                                 ("body_timeout_s", self.body_timeout_s, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SpecError(f"serve: {name} must be an integer >= {low}, got {value!r}")

    @property
    def tasks(self) -> tuple[str, ...]:
        """The models served: ``matt``, and the purifier or the undefended classifier only
        when asked for."""
        return tuple(task for task, wanted in ((CLASSIFY, True), (PURIFY, self.expose_purify),
                                               (UNDEFENDED, self.expose_undefended)) if wanted)
