"""The Triton model repository: portable, versioned, written with Triton's own config protobuf.

::

    <repository>/matt/config.pbtxt        ModelConfig (tritonclient's model_config_pb2)
    <repository>/matt/labels.txt          class names, for the classification extension
    <repository>/matt/<version>/model.py  a copy of triton_model.py
    <repository>/matt/<version>/bundle/   a verified copy of the bundle

Nothing in it names an absolute path: ``model.py`` finds its bundle from the repository path
Triton hands it, so the folder can be moved, archived or mounted anywhere, and a stock
``tritonserver --model-repository <repository>`` serves it with ``matt`` installed in the
Python the backend stub runs. Writing into an existing repository adds the next version.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from matt.errors import InputError
from matt.formats.bundle import ENGINE_PREFIX, Manifest, load_bundle
from matt.serve.handler import IMAGES, LABEL, PICTURES, PROBABILITIES, PURIFIED, output_name
from matt.serve.options import ServeOptions

MODEL_FILE = Path(__file__).with_name("triton_model.py")
CONFIG, LABELS, BUNDLE_DIR = "config.pbtxt", "labels.txt", "bundle"


def _protobuf() -> tuple[Any, Any]:
    """Triton's ``model_config_pb2`` (from tritonclient, the ``serve`` extra) and text_format;
    imported on use, so that ``matt-serve --help`` works without the extra."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return model_config_pb2, text_format


def uses_gpu(options: ServeOptions, manifest: Manifest) -> bool:
    """Whether instances belong on a GPU: TensorRT asked for, or ``auto`` with engines and a
    GPU on this machine."""
    if options.backend == "tensorrt":
        return True
    engines = any(name.startswith(ENGINE_PREFIX) for m in manifest.purifiers
                  for name in m.variants)
    return options.backend == "auto" and engines and Path("/dev/nvidiactl").exists()


def model_config(task: str, manifest: Manifest, options: ServeOptions) -> Any:
    """The ``ModelConfig`` of one served model."""
    mc, _ = _protobuf()
    config = mc.ModelConfig(name=task, backend="python", max_batch_size=options.max_batch)
    config.version_policy.latest.num_versions = 1
    config.input.add(name=IMAGES, data_type=mc.TYPE_FP32, dims=manifest.input_shape,
                     optional=True)
    config.input.add(name=PICTURES, data_type=mc.TYPE_STRING, dims=[1], optional=True)
    name = output_name(task, options.output)
    if name == PURIFIED:
        config.output.add(name=PURIFIED, data_type=mc.TYPE_FP32, dims=manifest.input_shape)
    elif name == LABEL:
        config.output.add(name=LABEL, data_type=mc.TYPE_INT64, dims=[1])
    else:
        config.output.add(name=PROBABILITIES, data_type=mc.TYPE_FP32,
                          dims=[len(manifest.class_names)], label_filename=LABELS)
    config.dynamic_batching.max_queue_delay_microseconds = options.max_queue_delay_us
    gpu = uses_gpu(options, manifest)
    config.instance_group.add(count=options.instances,
                              kind=mc.ModelInstanceGroup.KIND_GPU if gpu
                              else mc.ModelInstanceGroup.KIND_CPU)
    if gpu:  # the first request must not pay for engine deserialisation and CUDA set-up
        warmup = config.model_warmup.add(name="zero-image", batch_size=1)
        warmup.inputs[IMAGES].data_type = mc.TYPE_FP32
        warmup.inputs[IMAGES].dims.extend(manifest.input_shape)
        warmup.inputs[IMAGES].zero_data = True
    config.response_cache.enable = False
    parameters = {
        "task": task, "output": options.output, "backend": options.backend,
        "threads": str(options.threads), "max_picture_bytes": str(options.max_picture_bytes),
        "max_picture_pixels": str(options.max_picture_pixels),
    }
    for key, value in parameters.items():
        config.parameters[key].string_value = value
    return config


def config_text(config: Any) -> str:
    return str(_protobuf()[1].MessageToString(config))


def read_config(path: Path) -> Any:
    """A ``config.pbtxt`` parsed by protobuf (as Triton parses it)."""
    mc, text_format = _protobuf()
    return text_format.Parse(path.read_text(), mc.ModelConfig())


def _versions(model_dir: Path) -> list[int]:
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def _write_version(bundle_dir: Path, target: Path) -> None:
    """``target`` (a version folder, not yet existing): model.py and a verified bundle copy."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        shutil.copyfile(MODEL_FILE, staging / "model.py")
        shutil.copytree(bundle_dir, staging / BUNDLE_DIR,
                        ignore=shutil.ignore_patterns("__pycache__", ".*"))
        load_bundle(staging / BUNDLE_DIR)  # the copy is what Triton will load: verify it
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.replace(path)


def write_model_repository(bundle_dir: str | Path, repository: str | Path,
                           options: ServeOptions) -> list[str]:
    """Write (or add a version to) a model repository serving the bundle; the model names.

    The bundle is verified, then copied and the copy verified. A new repository is assembled
    beside ``repository`` and renamed into place; a new version folder likewise, so a failure
    leaves nothing half-written.

    Raises:
        BundleError: the bundle does not verify.
        InputError: ``repository`` exists but is not a repository of these models, or the new
            bundle takes other inputs than the versions already there.
    """
    bundle = load_bundle(bundle_dir)
    bundle_dir, repository = Path(bundle_dir), Path(repository)
    configs = {task: model_config(task, bundle.manifest, options) for task in options.tasks}
    labels = "".join(f"{name}\n" for name in bundle.manifest.class_names)
    if repository.exists():
        _add_version(bundle_dir, repository, configs, labels)
        return list(options.tasks)
    repository.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=repository.parent, prefix=f".{repository.name}."))
    try:
        for task, config in configs.items():
            (staging / task).mkdir()
            (staging / task / CONFIG).write_text(config_text(config))
            (staging / task / LABELS).write_text(labels)
            _write_version(bundle_dir, staging / task / "1")
        staging.rename(repository)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return list(options.tasks)


def _add_version(bundle_dir: Path, repository: Path, configs: dict[str, Any],
                 labels: str) -> None:
    for task, config in configs.items():
        existing = repository / task / CONFIG
        if not existing.is_file():
            raise InputError(f"{repository}: exists and has no model {task!r}; pick a new "
                             "folder, or write the same models into it to add a version")
        old = read_config(existing)
        if [list(i.dims) for i in old.input] != [list(i.dims) for i in config.input] or \
                [list(o.dims) for o in old.output] != [list(o.dims) for o in config.output]:
            raise InputError(f"{repository}/{task}: the versions there take other inputs or "
                             "give other outputs than this bundle; write a new repository")
    for task, config in configs.items():
        version = max(_versions(repository / task), default=0) + 1
        _write_version(bundle_dir, repository / task / str(version))
        _replace(repository / task / CONFIG, config_text(config))
        _replace(repository / task / LABELS, labels)
