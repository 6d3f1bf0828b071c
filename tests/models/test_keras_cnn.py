"""The CIFAR-10 CNN imported from Keras: conversion, parity with Keras' maths, refusals.

The synthetic files here follow the layout Keras 2.9 writes (``model_config`` JSON attribute,
``model_weights/<layer>/<layer>/<weight>:0`` datasets with ``weight_names``). The published
file is used where it is cached (see ``docs/cifar10-classifier.md``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from matt.errors import SpecError, WeightsError
from matt.models import ClassifierSpec, build_classifier
from matt.models.keras_cnn import (
    H5_CACHE,
    PUBLISHED_SHA256,
    find_keras_h5,
    import_keras_cifar,
)

CONVS = (64, 64, 128, 128, 64, 64)


def keras_layers(num_classes: int = 10) -> list[dict]:
    """The Sequential's layer list as Keras 2.9 writes it into ``model_config``."""
    layers = [{"class_name": "InputLayer", "config": {"name": "conv2d_input",
                                                      "batch_input_shape": [None, 32, 32, 3]}}]
    pools = 0
    for index, filters in enumerate(CONVS):
        suffix = f"_{index}" if index else ""
        layers.append({"class_name": "Conv2D", "config": {
            "name": f"conv2d{suffix}", "filters": filters, "kernel_size": [3, 3],
            "strides": [1, 1], "padding": "valid", "data_format": "channels_last",
            "activation": "relu", "use_bias": True, "batch_input_shape": [None, 32, 32, 3]}})
        layers.append({"class_name": "BatchNormalization", "config": {
            "name": f"batch_normalization{suffix}", "axis": [3], "epsilon": 0.001,
            "center": True, "scale": True, "momentum": 0.15}})
        if index in (1, 3):
            layers.append({"class_name": "MaxPooling2D", "config": {
                "name": f"max_pooling2d{'_' + str(pools) if pools else ''}", "pool_size": [2, 2],
                "strides": [2, 2], "padding": "valid", "data_format": "channels_last"}})
            pools += 1
    layers.append({"class_name": "MaxPooling2D", "config": {
        "name": "max_pooling2d_2", "pool_size": [1, 1], "strides": [1, 1], "padding": "valid"}})
    layers.append({"class_name": "Flatten", "config": {"name": "flatten",
                                                       "data_format": "channels_last"}})
    for index, units in enumerate((1024, 512, num_classes)):
        suffix = f"_{index}" if index else ""
        layers.append({"class_name": "Dense", "config": {
            "name": f"dense{suffix}", "units": units, "activation": "relu", "use_bias": True}})
        if index < 2:
            layers.append({"class_name": "Dropout", "config": {"name": f"dropout{suffix}",
                                                               "rate": 0.2}})
    return layers


def random_weights(layers: list[dict], seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Weights of Keras' shapes: conv kernels HWIO, dense kernels in × out."""
    rng = np.random.default_rng(seed)
    weights: dict[str, dict[str, np.ndarray]] = {}
    channels, side = 3, 32
    for layer in layers:
        kind, config = layer["class_name"], layer["config"]
        if kind == "Conv2D":
            fan_in = 9 * channels
            weights[config["name"]] = {
                "kernel": rng.normal(0, (2 / fan_in) ** 0.5 / 255, (3, 3, channels,
                                                                   config["filters"])),
                "bias": rng.normal(0, 0.1, config["filters"])}
            channels, side = config["filters"], side - 2
        elif kind == "BatchNormalization":
            weights[config["name"]] = {
                "gamma": rng.uniform(0.5, 1.5, channels), "beta": rng.normal(0, 0.1, channels),
                "moving_mean": rng.uniform(0, 0.5, channels),
                "moving_variance": rng.uniform(0.5, 2, channels)}
        elif kind == "MaxPooling2D":
            side //= config["pool_size"][0]
        elif kind == "Flatten":
            channels = side * side * channels
        elif kind == "Dense":
            weights[config["name"]] = {
                "kernel": rng.normal(0, (2 / channels) ** 0.5, (channels, config["units"])),
                "bias": rng.normal(0, 0.1, config["units"])}
            channels = config["units"]
    return {name: {k: v.astype(np.float32) for k, v in arrays.items()}
            for name, arrays in weights.items()}


def write_keras_h5(path: Path, layers: list[dict], weights: dict) -> Path:
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = "2.9.0"
        h5.attrs["model_config"] = json.dumps(
            {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}})
        group = h5.create_group("model_weights")
        for layer in layers:
            name = layer["config"]["name"]
            arrays = weights.get(name, {})
            layer_group = group.create_group(name)
            layer_group.attrs["weight_names"] = [f"{name}/{key}:0".encode() for key in arrays]
            for key, array in arrays.items():
                layer_group.create_dataset(f"{name}/{key}:0", data=array)
    return path


def keras_reference(h5_path: Path, images_nchw: np.ndarray) -> np.ndarray:
    """Keras' computation in float64 numpy, channels-last, read straight from the file."""
    x = images_nchw.transpose(0, 2, 3, 1).astype(np.float64) * 255.0
    with h5py.File(h5_path, "r") as h5:
        config = json.loads(h5.attrs["model_config"])["config"]["layers"]
        group = h5["model_weights"]

        def weight(name, key):
            return np.asarray(group[name][f"{name}/{key}:0"], dtype=np.float64)

        for layer in config:
            kind, name = layer["class_name"], layer["config"]["name"]
            if kind == "Conv2D":
                windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
                x = np.einsum("nhwcij,ijco->nhwo", windows, weight(name, "kernel"))
                x = np.maximum(x + weight(name, "bias"), 0)
            elif kind == "BatchNormalization":
                x = (x - weight(name, "moving_mean")) / np.sqrt(
                    weight(name, "moving_variance") + layer["config"]["epsilon"])
                x = x * weight(name, "gamma") + weight(name, "beta")
            elif kind == "MaxPooling2D" and layer["config"]["pool_size"] == [2, 2]:
                n, h, w, c = x.shape
                x = x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
                x = x.max(axis=(2, 4))
            elif kind == "Flatten":
                x = x.reshape(len(x), -1)
            elif kind == "Dense":
                x = np.maximum(x @ weight(name, "kernel") + weight(name, "bias"), 0)
    return x


def load(h5_path: Path) -> torch.nn.Module:
    spec, state = import_keras_cifar(h5_path)
    model = build_classifier(spec)
    model.load_state_dict(state)
    return model.eval()


@pytest.fixture
def synthetic_h5(tmp_path) -> Path:
    layers = keras_layers()
    return write_keras_h5(tmp_path / "model.h5", layers, random_weights(layers))


def test_registered_and_built_from_a_spec():
    model = build_classifier(ClassifierSpec(arch="keras_cifar_cnn")).eval()
    with torch.no_grad():
        logits = model(torch.rand(4, 3, 32, 32))
    assert logits.shape == (4, 10) and (logits >= 0).all()
    with pytest.raises(SpecError, match="channels must be 3"):
        build_classifier(ClassifierSpec(arch="keras_cifar_cnn", channels=1))


def test_import_matches_keras_maths_on_synthetic_weights(synthetic_h5):
    spec, _ = import_keras_cifar(synthetic_h5)
    assert spec == ClassifierSpec(arch="keras_cifar_cnn", num_classes=10, channels=3)
    images = np.random.default_rng(1).random((6, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        logits = load(synthetic_h5)(torch.from_numpy(images)).numpy()
    expected = keras_reference(synthetic_h5, images)
    assert expected.std() > 0.1  # the random net gives varied outputs
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_state_dict_loads_strictly_and_is_float32(synthetic_h5):
    _, state = import_keras_cifar(synthetic_h5)
    model = build_classifier(ClassifierSpec(arch="keras_cifar_cnn"))
    assert set(state) == set(model.state_dict())
    assert all(t.dtype == torch.float32 for k, t in state.items() if "num_batches" not in k)


def mutate(tmp_path, change) -> Path:
    layers = keras_layers()
    weights = random_weights(layers)
    change(layers, weights)
    return write_keras_h5(tmp_path / "other.h5", layers, weights)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda layers, weights: layers.pop(3), "its layers are"),
        (lambda layers, weights: layers[1]["config"].update(padding="same"), "padding='same'"),
        (lambda layers, weights: layers[2]["config"].update(epsilon=1e-5), "epsilon"),
        (lambda layers, weights: layers[-1]["config"].update(activation="softmax"),
         "activation='softmax'"),
        (lambda layers, weights: layers[0]["config"].update(batch_input_shape=[None, 64, 64, 3]),
         "not 32×32×3"),
        (lambda layers, weights: weights["dense_1"].update(
            kernel=np.zeros((1024, 256), np.float32)), "shape"),
        (lambda layers, weights: weights["conv2d_2"].pop("bias"), "bias"),
    ],
)
def test_other_architectures_are_refused_in_one_line(tmp_path, change, message):
    with pytest.raises(WeightsError, match=message) as caught:
        import_keras_cifar(mutate(tmp_path, change))
    assert "\n" not in str(caught.value)


def test_not_hdf5_missing_and_weights_only_files(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        import_keras_cifar(tmp_path / "absent.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="not a readable HDF5"):
        import_keras_cifar(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "weights_only.h5", "w") as h5:
        h5.create_group("conv2d")
    with pytest.raises(WeightsError, match="no Keras model_config"):
        import_keras_cifar(tmp_path / "weights_only.h5")


published_h5 = find_keras_h5()
needs_published = pytest.mark.skipif(
    published_h5 is None,
    reason=f"cnn_model.h5 not cached: set MATT_KERAS_H5 or place it at {H5_CACHE} "
    "(docs/cifar10-classifier.md)",
)


@needs_published
def test_published_model_classifies_the_foolbox_cifar10_images():
    pytest.importorskip("foolbox", reason="foolbox ships the 20 CIFAR-10 test images")
    from matt.data import load_foolbox_samples

    samples = load_foolbox_samples("cifar10")
    with torch.no_grad():
        predicted = load(published_h5)(torch.from_numpy(samples.images)).argmax(1).numpy()
    assert (predicted == samples.labels).sum() == 20


@needs_published
def test_published_model_matches_keras_maths():
    images = np.random.default_rng(2).random((4, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        logits = load(published_h5)(torch.from_numpy(images)).numpy()
    expected = keras_reference(published_h5, images)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@needs_published
def test_published_file_is_the_one_documented():
    digest = hashlib.sha256(published_h5.read_bytes()).hexdigest()
    assert digest == PUBLISHED_SHA256
