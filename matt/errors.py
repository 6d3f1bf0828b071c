"""The project's one exception hierarchy.

Every error a user can cause is a :class:`MattError` whose message names the thing and the fix;
the command-line tools print it as one line and exit non-zero. Which one to raise:

* :class:`InputError`: a value handed in at call time that does not fit (an image batch, a
  request, a pool, device, precision or tiling argument, an environment variable).
* :class:`SpecError`: a spec dataclass (model, tiling, attack, serve, bench spec) built with
  invalid values: the fault is in a configuration, checked when it is constructed.
* :class:`WeightsError`, :class:`BundleError`, :class:`DataError`: a file or folder on disk.
* :class:`BackendUnavailable`: a backend or device this machine cannot run (a missing
  library, GPU or provider), or engines that were closed. A wrong shape is an
  :class:`InputError`, never this.
* :class:`ExportError`: an export step that failed. :class:`RemoteError`: a server that
  refused or could not be reached.
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


class RemoteError(MattError):
    """A matt server that refused a request or could not be reached (``MattClient``)."""


class MissingExtra(MattError):
    """An optional dependency that is not installed; the message names the extra to install."""

    def __init__(self, command: str, extra: str, module: str) -> None:
        super().__init__(f"{command} needs the '{extra}' extra: pip install 'matt[{extra}]'")
        self.extra, self.module = extra, module
