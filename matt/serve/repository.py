"""The Triton model repository: one ``config.pbtxt`` and ``1/model.py`` per served model.

The repository is plain Triton: the same folder runs under the ``tritonserver`` binary of the
``nvidia-pytriton`` wheel here and in NVIDIA's Triton containers (with ``matt`` installed in
the container's Python and the bundle mounted at the same path).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from matt.bundle import Manifest, load_bundle
from matt.errors import InputError
from matt.serve.handler import IMAGES, LABEL, PICTURES, PROBABILITIES, PURIFIED, output_name
from matt.serve.options import ServeOptions

MODEL_FILE = Path(__file__).with_name("triton_model.py")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model config; ``dims`` excludes the batch dimension."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    optional: bool = False

    def to_pbtxt(self) -> str:
        dims = ", ".join(str(d) for d in self.dims)
        optional = " optional: true" if self.optional else ""
        return f'  {{ name: "{self.name}" data_type: {self.data_type} dims: [ {dims} ]{optional} }}'


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _outputs(task: str, options: ServeOptions, manifest: Manifest) -> TensorSpec:
    name = output_name(task, options.output)
    if name == PURIFIED:
        return TensorSpec(PURIFIED, "TYPE_FP32", manifest.input_shape)
    if name == LABEL:
        return TensorSpec(LABEL, "TYPE_INT64", (1,))
    return TensorSpec(PROBABILITIES, "TYPE_FP32", (len(manifest.class_names),))


def model_config(task: str, bundle_dir: Path, manifest: Manifest, options: ServeOptions) -> str:
    """The ``config.pbtxt`` text of one served model."""
    inputs = (TensorSpec(IMAGES, "TYPE_FP32", manifest.input_shape, optional=True),
              TensorSpec(PICTURES, "TYPE_STRING", (1,), optional=True))
    parameters = {
        "bundle": str(bundle_dir), "task": task, "output": options.output,
        "backend": options.backend, "threads": str(options.threads),
        "max_picture_bytes": str(options.max_picture_bytes),
        "max_picture_pixels": str(options.max_picture_pixels),
    }
    lines = [
        f"name: {_string(task)}",
        'backend: "python"',
        f"max_batch_size: {options.max_batch}",
        "input [",
        ",\n".join(spec.to_pbtxt() for spec in inputs),
        "]",
        "output [",
        _outputs(task, options, manifest).to_pbtxt(),
        "]",
        f"dynamic_batching {{ max_queue_delay_microseconds: {options.max_queue_delay_us} }}",
        f"instance_group [ {{ count: {options.instances} kind: KIND_CPU }} ]",
        "response_cache { enable: false }",
        *(f"parameters {{ key: {_string(key)} value {{ string_value: {_string(value)} }} }}"
          for key, value in parameters.items()),
    ]
    return "\n".join(lines) + "\n"


def write_model_repository(bundle_dir: str | Path, repository: str | Path,
                           options: ServeOptions) -> list[str]:
    """Write a model repository serving the bundle at ``bundle_dir``; returns the model names.

    The bundle is verified first. The repository is assembled beside ``repository`` and
    renamed into place, so a failure leaves nothing half-written.

    Raises:
        BundleError: the bundle does not verify.
        InputError: ``repository`` exists already.
    """
    bundle = load_bundle(bundle_dir)
    bundle_dir = Path(bundle_dir).resolve()
    repository = Path(repository)
    if repository.exists():
        raise InputError(f"{repository}: already exists; pick a new folder for the repository")
    repository.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=repository.parent, prefix=f".{repository.name}."))
    try:
        for task in options.tasks:
            version = staging / task / "1"
            version.mkdir(parents=True)
            config = model_config(task, bundle_dir, bundle.manifest, options)
            (staging / task / "config.pbtxt").write_text(config)
            shutil.copyfile(MODEL_FILE, version / "model.py")
        staging.rename(repository)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return list(options.tasks)
