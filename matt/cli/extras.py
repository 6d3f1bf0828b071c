"""Which pip extra brings which optional library, so a missing one names the line to type.

Kept beside ``[project.optional-dependencies]`` of ``pyproject.toml``; ``tests/cli`` checks
that the two agree.
"""

from __future__ import annotations

import importlib.util

from matt.errors import MattError, MissingExtra

# extra → the top-level modules of the distributions it lists (in the order checked).
EXTRAS: dict[str, tuple[str, ...]] = {
    "eval": ("art", "foolbox", "matplotlib", "skimage", "sklearn"),
    "bench": ("matplotlib", "foolbox", "skimage", "sklearn"),
    "serve": ("pytriton", "tritonclient"),
    "gpu": ("tensorrt", "cuda"),
}
# modules that arrive with one of the above rather than being listed themselves.
BROUGHT_BY = {"eagerpy": "foolbox", "scipy": "skimage", "geventhttpclient": "tritonclient",
              "gevent": "tritonclient", "grpc": "tritonclient", "rapidjson": "tritonclient"}
# matt's own dependencies: missing one means a broken install, not a missing extra.
CORE = frozenset({"torch", "numpy", "onnx", "onnxscript", "onnxruntime", "click", "PIL",
                  "h5py", "tqdm"})
# the extra a command is installed with: preferred when a module is in several.
COMMAND_EXTRA = {"matt-eval": "eval", "matt-bench": "bench", "matt-serve": "serve"}


def extra_for(module: str, command: str | None = None) -> str | None:
    """The extra to install for ``module`` (a dotted name is cut to its top level), or
    ``None`` when it is one of matt's own dependencies or unknown."""
    top = module.split(".")[0]
    top = BROUGHT_BY.get(top, top)
    owners = [extra for extra, modules in EXTRAS.items() if top in modules]
    preferred = COMMAND_EXTRA.get(command or "")
    if preferred in owners:
        return preferred
    return owners[0] if owners else None


def is_known(module: str) -> bool:
    """Whether ``module`` is an optional or core third-party library of matt."""
    top = module.split(".")[0]
    return top in CORE or extra_for(top) is not None


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent that fails, or a module set to None
        return False


def require_extra(extra: str, command: str) -> None:
    """Raise :class:`MissingExtra` naming ``extra`` unless all its libraries are here."""
    for module in EXTRAS[extra]:
        if not installed(module):
            raise MissingExtra(command, extra, module)


def missing_dependency(module: str, command: str) -> MattError:
    """The error for an import of ``module`` that failed while ``command`` ran."""
    top = module.split(".")[0]
    extra = extra_for(top, command)
    if extra is not None:
        return MissingExtra(command, extra, top)
    return MattError(f"{command} needs the Python module {top!r}, which is not installed; "
                     "it comes with matt itself: reinstall matt")
