"""The pretrained CIFAR-10 CNN of PyPI ``cifar-10-model`` 7.4.0, rebuilt in torch.

The wheel ships ``cifar_10_model/trained_models/cnn_model.h5``, a Keras 2.9 ``Sequential``:
six 3×3 valid convolutions, each followed by ReLU and then batch norm (eps 1e-3), max-pooling
after the 2nd and 4th, then Dense 1024 → 512 → 10, all with ReLU (the last one too: it was
trained with ``from_logits=True`` on those ReLU outputs). It takes 0..255 pixels, NHWC.

:class:`KerasCifarCnn` reproduces that computation on [0, 1] NCHW input, and
:func:`import_keras_cifar` reads the ``.h5`` with h5py (no TensorFlow) into its state dict.
Provenance and licence: ``docs/cifar10-classifier.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from matt.errors import SpecError, WeightsError
from matt.models.specs import ClassifierSpec

if TYPE_CHECKING:
    import h5py

ARCH = "keras_cifar_cnn"
CONV_WIDTHS = (64, 64, 128, 128, 64, 64)
POOL_AFTER = (1, 3)
DENSE_WIDTHS = (1024, 512)
BN_EPSILON = 1e-3
IMAGE_SIZE = 32
PUBLISHED_SHA256 = "0eddc60b9fcbcab498ff07c8430a94ef1d0ee5ac04ad2d0c75d4977cc25cf9e9"
H5_ENV = "MATT_KERAS_H5"
H5_CACHE = Path.home() / ".cache" / "matt" / "cifar-10-model-7.4.0" / "cnn_model.h5"


class KerasCifarCnn(nn.Module):
    """The Keras CNN in torch: [0, 1] NCHW 32×32 RGB → 10 non-negative logits."""

    def __init__(self, spec: ClassifierSpec) -> None:
        super().__init__()
        if spec.channels != 3:
            raise SpecError(f"{ARCH} takes RGB images: channels must be 3, not {spec.channels}")
        layers: list[nn.Module] = []
        in_channels = 3
        for index, width in enumerate(CONV_WIDTHS):
            layers += [
                nn.Conv2d(in_channels, width, 3), nn.ReLU(),
                nn.BatchNorm2d(width, eps=BN_EPSILON),
            ]
            if index in POOL_AFTER:
                layers.append(nn.MaxPool2d(2))
            in_channels = width
        self.features = nn.Sequential(*layers)
        side = _feature_side()
        dense: list[nn.Module] = []
        in_features = side * side * CONV_WIDTHS[-1]
        for width in (*DENSE_WIDTHS, spec.num_classes):
            dense += [nn.Linear(in_features, width), nn.ReLU()]
            in_features = width
        self.head = nn.Sequential(*dense)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images * 255.0)
        # Keras flattens channels-last: (N, H, W, C) order, which the Dense weights expect.
        return self.head(features.permute(0, 2, 3, 1).flatten(1))


def _feature_side() -> int:
    side = IMAGE_SIZE
    for index in range(len(CONV_WIDTHS)):
        side -= 2
        if index in POOL_AFTER:
            side //= 2
    return side


def default_spec() -> ClassifierSpec:
    """The spec of the published model: 10 CIFAR-10 classes, RGB."""
    return ClassifierSpec(arch=ARCH, num_classes=10, channels=3)


def find_keras_h5() -> Path | None:
    """The ``cnn_model.h5`` on this machine, if any: ``$MATT_KERAS_H5``, then the cache.

    The cache is ``~/.cache/matt/cifar-10-model-7.4.0/cnn_model.h5``; how to fill it is in
    ``docs/cifar10-classifier.md``.
    """
    for candidate in (os.environ.get(H5_ENV), H5_CACHE):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def import_keras_cifar(h5_path: str | Path) -> tuple[ClassifierSpec, dict[str, torch.Tensor]]:
    """Read the Keras ``cnn_model.h5`` into the spec and state dict of :class:`KerasCifarCnn`.

    Checks the file's layer list, layer types, hyper-parameters and every weight's shape
    against the published architecture, and refuses any other file with one
    :class:`WeightsError` line. Needs h5py only, not TensorFlow.
    """
    import h5py

    path = Path(h5_path)
    if not path.is_file():
        raise WeightsError(f"Keras file {path} does not exist; see docs/cifar10-classifier.md")
    try:
        with h5py.File(path, "r") as h5:
            layers = _model_layers(h5, path)
            num_classes = _check_layers(layers, path)
            weighted = [layer["config"]["name"] for layer in layers
                        if layer["class_name"] in _WEIGHTED_KINDS]
            keras_weights = _read_weights(h5, weighted, path)
    except OSError as error:
        raise WeightsError(f"{path} is not a readable HDF5 Keras file ({error})") from error
    spec = ClassifierSpec(arch=ARCH, num_classes=num_classes, channels=3)
    return spec, _to_state_dict(keras_weights, spec, path)


_WEIGHTED_KINDS = ("Conv2D", "BatchNormalization", "Dense")
_FOREIGN = "is not the cifar-10-model 7.4.0 CNN"


def _model_layers(h5: h5py.File, path: Path) -> list[dict]:
    raw = h5.attrs.get("model_config")
    if raw is None:
        raise WeightsError(f"{path} has no Keras model_config; save the whole model, not weights")
    try:
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        all_layers = config["config"]["layers"]
        names = [layer["config"]["name"] for layer in all_layers]
        input_shapes = [layer["config"]["batch_input_shape"] for layer in all_layers
                        if "batch_input_shape" in layer["config"]]
    except (ValueError, KeyError, TypeError) as error:
        raise WeightsError(f"{path}: unreadable Keras model_config ({error})") from error
    if not all(isinstance(name, str) for name in names):
        raise WeightsError(f"{path}: Keras model_config has unnamed layers")
    if input_shapes and list(input_shapes[0])[1:] != [IMAGE_SIZE, IMAGE_SIZE, 3]:
        raise WeightsError(f"{path} {_FOREIGN}: its input is {input_shapes[0][1:]}, not 32×32×3")
    return [layer for layer in all_layers if layer["class_name"] != "InputLayer"]


def _expected_layers(num_classes: int) -> list[tuple[str, dict]]:
    layers: list[tuple[str, dict]] = []
    for index, width in enumerate(CONV_WIDTHS):
        layers.append(("Conv2D", {"filters": width, "kernel_size": [3, 3], "strides": [1, 1],
                                  "padding": "valid", "activation": "relu", "use_bias": True,
                                  "data_format": "channels_last"}))
        layers.append(("BatchNormalization", {"epsilon": BN_EPSILON, "axis": [3],
                                              "center": True, "scale": True}))
        if index in POOL_AFTER:
            layers.append(("MaxPooling2D", {"pool_size": [2, 2], "strides": [2, 2],
                                            "padding": "valid"}))
    layers.append(("MaxPooling2D", {"pool_size": [1, 1], "strides": [1, 1]}))
    layers.append(("Flatten", {"data_format": "channels_last"}))
    for width in DENSE_WIDTHS:
        layers += [("Dense", {"units": width, "activation": "relu", "use_bias": True}),
                   ("Dropout", {})]
    layers.append(("Dense", {"units": num_classes, "activation": "relu", "use_bias": True}))
    return layers


def _check_layers(layers: list[dict], path: Path) -> int:
    """The number of classes, once every layer matches the published architecture."""
    num_classes = layers[-1]["config"].get("units") if layers else None
    if not isinstance(num_classes, int) or num_classes < 1:
        raise WeightsError(f"{path} {_FOREIGN}: its last layer is not a Dense layer")
    expected = _expected_layers(num_classes)
    found_kinds = [layer["class_name"] for layer in layers]
    expected_kinds = [kind for kind, _ in expected]
    if found_kinds != expected_kinds:
        raise WeightsError(
            f"{path} {_FOREIGN}: its layers are {_summary(found_kinds)}, "
            f"expected {_summary(expected_kinds)}"
        )
    for position, (layer, (kind, settings)) in enumerate(zip(layers, expected, strict=True)):
        for key, value in settings.items():
            if layer["config"].get(key) != value:
                raise WeightsError(
                    f"{path} {_FOREIGN}: layer {position} ({kind}) has "
                    f"{key}={layer['config'].get(key)!r}, expected {value!r}"
                )
    return num_classes


def _summary(kinds: list[str]) -> str:
    shown = ", ".join(kinds[:6])
    return f"{len(kinds)} [{shown}{', …' if len(kinds) > 6 else ''}]"


def _read_weights(h5: h5py.File, names: list[str], path: Path) -> list[dict[str, np.ndarray]]:
    """Per weighted layer, in model order: ``{kernel, bias}`` or the four batch-norm arrays."""
    group = h5.get("model_weights")
    if group is None:
        raise WeightsError(f"{path} has no model_weights group; save the whole Keras model")
    weights = []
    for name in names:
        if name not in group:
            raise WeightsError(f"{path}: model_weights lacks layer {name!r}; the file is truncated")
        layer = group[name]
        keys = [n.decode() if isinstance(n, bytes) else str(n)
                for n in layer.attrs.get("weight_names", [])]
        try:
            weights.append({
                key.rsplit("/", 1)[-1].split(":")[0]: np.asarray(layer[key], dtype=np.float32)
                for key in keys
            })
        except KeyError as error:
            raise WeightsError(f"{path}: layer {name!r} lacks {error}; the file is truncated") \
                from error
    return weights


_KERAS_TO_TORCH: dict[type[nn.Module], dict[str, tuple[str, tuple[int, ...] | None]]] = {
    nn.Conv2d: {"kernel": ("weight", (3, 2, 0, 1)), "bias": ("bias", None)},
    nn.Linear: {"kernel": ("weight", (1, 0)), "bias": ("bias", None)},
    nn.BatchNorm2d: {"gamma": ("weight", None), "beta": ("bias", None),
                     "moving_mean": ("running_mean", None),
                     "moving_variance": ("running_var", None)},
}


def _to_state_dict(
    keras_weights: list[dict[str, np.ndarray]], spec: ClassifierSpec, path: Path
) -> dict[str, torch.Tensor]:
    """Keras kernels (HWIO convs, in×out dense) → torch (OIHW, out×in), every shape checked."""
    with torch.device("meta"):
        model = KerasCifarCnn(spec)
    target = model.state_dict()
    modules = [(name, module) for name, module in model.named_modules()
               if type(module) in _KERAS_TO_TORCH]  # exactly the layers the table maps
    state: dict[str, torch.Tensor] = {}
    for (prefix, module), arrays in zip(modules, keras_weights, strict=True):
        for keras_name, (torch_name, axes) in _KERAS_TO_TORCH[type(module)].items():
            if keras_name not in arrays:
                raise WeightsError(f"{path}: {prefix} has no Keras {keras_name!r} weight")
            array = arrays[keras_name] if axes is None else arrays[keras_name].transpose(axes)
            key = f"{prefix}.{torch_name}"
            if tuple(array.shape) != tuple(target[key].shape):
                raise WeightsError(
                    f"{path} {_FOREIGN}: {keras_name} of layer {prefix} has shape "
                    f"{arrays[keras_name].shape}, expected {tuple(target[key].shape)} in torch"
                )
            state[key] = torch.from_numpy(np.ascontiguousarray(array))
        if isinstance(module, nn.BatchNorm2d):
            state[f"{prefix}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return {key: state[key] for key in target}
