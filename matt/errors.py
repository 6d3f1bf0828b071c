"""The project's one exception hierarchy.

Every error a user can cause is a :class:`MattError` whose message names the thing and the fix;
the command-line tools print it as one line and exit non-zero.
"""


class MattError(Exception):
    """Base class of every error raised on purpose by matt."""

    exit_code = 2


class InputError(MattError, ValueError):
    """An image batch, request or argument that does not fit what was asked of it."""


class SpecError(MattError, ValueError):
    """A model, tiling or attack spec with invalid values."""


class WeightsError(MattError):
    """A ``weights.pt`` file that is missing, corrupt, truncated or of another format."""


class BundleError(MattError):
    """A bundle whose manifest, schema version or file checksums do not verify."""


class DataError(MattError):
    """A dataset folder or file that is missing or not in the expected format."""


class BackendUnavailable(MattError):
    """A runtime backend (TensorRT, CUDA, ...) that cannot run on this machine."""


class ExportError(MattError):
    """An export step that failed (parity, TensorRT build, quantization)."""
