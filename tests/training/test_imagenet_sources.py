"""imagenet dataset plumbing: budgets, pool-training sources, evaluation set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from matt.attacks.registry import build_attack
from matt.attacks.threat import default_threat
from matt.errors import DataError, InputError
from tests.conftest import run_matt_train


class Confident(nn.Module):
    """A stand-in 1000-class classifier: class = brightest channel, confidence ≈ 1."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = torch.full((len(images), 1000), -20.0)
        logits[torch.arange(len(images)), images.mean(dim=(2, 3)).argmax(dim=1)] = 20.0
        return logits


def test_budgets_are_the_papers_and_scaled_l2():
    assert default_threat("imagenet", "linf").epsilon == pytest.approx(4 / 255)
    assert default_threat("imagenet", "l2").epsilon == pytest.approx(3.5)
    assert build_attack("nes", "imagenet").learning_rate == pytest.approx(0.005)
    assert build_attack("square", "imagenet").p_init == pytest.approx(0.05)


def test_photo_lists_exclude_the_evaluation_images_and_stay_disjoint():
    from matt.training.imagenet_sources import _photo_lists

    train, held = _photo_lists()
    assert train and held and not set(train) & set(held)
    assert not [name for name in (*train, *held) if name.startswith("foolbox.imagenet")]


def test_sources_from_an_imagenet_folder(tmp_path):
    from PIL import Image

    from matt.training.imagenet_sources import imagenet_sources

    rng = np.random.default_rng(0)
    for wnid in ("n01440764", "n01443537"):
        (tmp_path / wnid).mkdir()
        for index in range(3):
            pixels = rng.integers(0, 256, (256, 320, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / wnid / f"{index}.JPEG")
    data = imagenet_sources(Confident(), 4, 2, seed=0, confidence=0.5, data_dir=tmp_path)
    assert data.train_images.shape == (4, 3, 224, 224)
    assert set(data.train_labels.tolist()) <= {0, 1}
    assert list(data.held_out) == ["crops"]  # the foolbox images are matt-eval's
    crops, crop_labels = data.held_out["crops"]
    assert crops.shape == (2, 3, 224, 224) and crop_labels.max() < 3
    with pytest.raises(DataError, match="asked for 7 images"):
        imagenet_sources(Confident(), 7, 0, seed=0, data_dir=tmp_path)


def test_unreachable_confidence_is_refused():
    from matt.training.imagenet_sources import imagenet_sources

    class Unsure(nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return torch.zeros(len(images), 1000)

    with pytest.raises(DataError, match="lower --confidence"):
        imagenet_sources(Unsure(), 1, 1, seed=0, confidence=0.5)


def test_evaluation_set_keeps_correct_foolbox_images_and_refuses_more():
    from matt.data import load_foolbox_samples
    from matt.evaluation.imagenet_set import imagenet_set

    labels = load_foolbox_samples("imagenet", size=224).labels

    def right_on_even(images: np.ndarray) -> np.ndarray:
        answers = np.zeros((len(images), 1000), dtype=np.float32)
        answers[np.arange(len(images)), np.where(np.arange(20) % 2 == 0, labels, 0)] = 1
        return answers

    images, chosen, description = imagenet_set(right_on_even, 10)
    assert images.shape == (10, 3, 224, 224)
    np.testing.assert_array_equal(chosen, labels[::2])
    assert "10 of the 10" in description
    with pytest.raises(InputError, match="--n-images <= 10"):
        imagenet_set(right_on_even, 11)


def test_export_checks_imagenet_bundles_on_the_real_images():
    from matt.calibration.datasets import evaluation_images

    images = evaluation_images("imagenet", (3, 224, 224), 3)
    assert images.real and images.images.shape == (3, 3, 224, 224)
    assert images.labelled.all() and "ImageNet" in images.source


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    code, _, err = run_matt_train(monkeypatch, capsys, *args)
    return code, err


@pytest.mark.parametrize("content", ["cifar10", "corrupt"])
def test_pool_refuses_a_classifier_of_another_dataset_or_a_corrupt_file(
        monkeypatch, capsys, tmp_path, content):
    from matt.models import ClassifierSpec, build_classifier
    from matt.training.artifacts import ClassifierFile

    path = tmp_path / "classifier.pt"
    if content == "cifar10":
        spec = ClassifierSpec("resnet", num_classes=2, channels=3, width=4, blocks=1)
        ClassifierFile("cifar10", (3, 8, 8), ("a", "b"), spec,
                       build_classifier(spec).state_dict(), {}).save(path)
        needle = "is a cifar10 classifier, not imagenet"
    else:
        path.write_bytes(b"PK\x03\x04 not a torch file")
        needle = "classifier.pt"
    code, err = _cli(monkeypatch, capsys, "pool", "--dataset", "imagenet", "--classifier",
                     str(path), "--run-dir", str(tmp_path / "run"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert needle in lines[0]
    assert not (tmp_path / "run").exists()
