import json

import pytest
import torch

from matt.errors import SpecError, WeightsError
from matt.models import ClassifierSpec
from matt.training.adversarial import AttackSpec
from matt.training.artifacts import ClassifierFile
from matt.training.classifier import ClassifierTraining, augment, train_classifier

SPEC = ClassifierSpec("resnet", num_classes=2, channels=1, width=4, blocks=1)


def _bright_or_dark(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes a classifier can learn in a step or two: bright images and dark ones."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (count,), generator=generator)
    images = 0.25 + 0.5 * labels.float()[:, None, None, None] + 0.1 * torch.randn(
        count, 1, 12, 12, generator=generator)
    return images.clamp(0, 1), labels


def test_training_learns_logs_every_epoch_and_resumes(tmp_path):
    images, labels = _bright_or_dark(320)
    recipe = ClassifierTraining(epochs=2, batch_size=32, learning_rate=0.05)
    _, metrics = train_classifier(SPEC, recipe, images, labels, images, labels, tmp_path)
    assert metrics["test_accuracy"] > 0.8
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    assert lines[1]["train_loss"] < lines[0]["train_loss"]
    longer = ClassifierTraining(epochs=3, batch_size=32, learning_rate=0.05)
    train_classifier(SPEC, longer, images, labels, images, labels, tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3], "resumed after epoch 2, not from 0"


def test_finished_run_returns_its_checkpoint_without_training(tmp_path):
    images, labels = _bright_or_dark(64)
    recipe = ClassifierTraining(epochs=1, batch_size=32)
    first, _ = train_classifier(SPEC, recipe, images, labels, images, labels, tmp_path)
    again, _ = train_classifier(SPEC, recipe, images, labels, images, labels, tmp_path)
    assert all(torch.equal(first[key], again[key]) for key in first)


def test_adversarial_training_reports_robust_accuracy(tmp_path):
    images, labels = _bright_or_dark(64)
    recipe = ClassifierTraining(epochs=1, batch_size=32, robust_eval_size=32,
                                adversarial=AttackSpec.default("pgd", 0.1, steps=2))
    _, metrics = train_classifier(SPEC, recipe, images, labels, images, labels, tmp_path)
    assert 0.0 <= metrics["robust_accuracy_pgd"] <= 1.0


def test_resuming_with_another_architecture_is_refused(tmp_path):
    images, labels = _bright_or_dark(32)
    recipe = ClassifierTraining(epochs=1, batch_size=32)
    train_classifier(SPEC, recipe, images, labels, images, labels, tmp_path)
    wider = ClassifierSpec("resnet", num_classes=2, channels=1, width=8, blocks=1)
    with pytest.raises(SpecError, match="another classifier spec"):
        train_classifier(wider, recipe, images, labels, images, labels, tmp_path)


def test_augment_keeps_shape_range_and_content():
    images = torch.rand(16, 1, 12, 12)
    augmented = augment(images, 2, True, torch.Generator().manual_seed(0))
    assert augmented.shape == images.shape
    assert augmented.min() >= 0 and augmented.max() <= 1
    assert not torch.equal(augmented, images)
    assert torch.equal(augment(images, 0, False, torch.Generator()), images)


def test_classifier_file_round_trip_and_foreign_file(tmp_path):
    from matt.models import build_classifier

    state = build_classifier(SPEC).state_dict()
    saved = ClassifierFile("fmnist", (1, 12, 12), ("dark", "bright"), SPEC, state,
                           {"data": "test"}).save(tmp_path / "c.pt")
    loaded = ClassifierFile.load(saved)
    assert loaded.spec == SPEC and loaded.class_names == ("dark", "bright")
    assert all(torch.equal(loaded.state_dict[k], state[k]) for k in state)
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="not a matt-classifier file"):
        ClassifierFile.load(tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="no such file"):
        ClassifierFile.load(tmp_path / "missing.pt")
