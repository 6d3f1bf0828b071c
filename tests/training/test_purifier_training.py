import json

import pytest
import torch
from torch import nn

from matt.errors import DataError, SpecError
from matt.models import PurifierSpec, build_purifier
from matt.training.adversarial import AttackSpec
from matt.training.measures import psnr
from matt.training.mixes import mix_named
from matt.training.pairs import family_set
from matt.training.perturbations import FamilyContext, family
from matt.training.purifier import (
    PurifierTraining,
    _plateaued,
    evaluate_purifier,
    random_crops,
    train_purifier,
)
from matt.training.sampler import PairSampler

SPEC = PurifierSpec(encoder="edsr", features=8, blocks=1, decoder_widths=(16,), channels=1)


def test_random_crops_cut_the_same_window_of_both_images():
    clean = torch.rand(4, 1, 10, 10)
    adversarial = clean + 0.25
    noisy, reference = random_crops(adversarial, clean, 12, 6, True,
                                    torch.Generator().manual_seed(0))
    assert noisy.shape == reference.shape == (12, 1, 6, 6)
    assert torch.allclose(noisy - reference, torch.full_like(noisy, 0.25))


def test_crop_larger_than_the_image_takes_the_whole_image():
    clean = torch.rand(2, 3, 5, 7)
    noisy, _ = random_crops(clean, clean, 3, 16, False, torch.Generator().manual_seed(0))
    assert noisy.shape == (3, 3, 5, 7)


def _sampler(clean: torch.Tensor, family: str = "vertices") -> PairSampler:
    labels = torch.zeros(len(clean), dtype=torch.int64)
    return PairSampler(clean, labels, {}, mix_named(family), FamilyContext(0.1, 1.0))


def test_training_reduces_the_loss_and_resumes(tmp_path):
    torch.manual_seed(0)
    clean = torch.rand(16, 1, 12, 12) * 0.5 + 0.25
    sampler = _sampler(clean)
    recipe = PurifierTraining(steps=30, batch_size=8, crop=8, learning_rate=3e-3,
                              checkpoint_every=10)
    train_purifier(SPEC, recipe, sampler, tmp_path)
    losses = [json.loads(line)["loss"] for line in
              (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 3
    assert losses[-1] < losses[0]
    longer = PurifierTraining(steps=40, batch_size=8, crop=8, learning_rate=3e-3,
                              checkpoint_every=10)
    train_purifier(SPEC, longer, sampler, tmp_path)
    steps = [json.loads(line)["step"] for line in
             (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30, 40], "resumed at step 30"


def test_resuming_another_spec_is_refused(tmp_path):
    clean = torch.rand(4, 1, 8, 8)
    recipe = PurifierTraining(steps=2, batch_size=2, crop=8, checkpoint_every=1)
    train_purifier(SPEC, recipe, _sampler(clean), tmp_path)
    other = PurifierSpec(encoder="rcan", features=8, blocks=1, decoder_widths=(16,), channels=1)
    with pytest.raises(SpecError, match="another purifier spec"):
        train_purifier(other, recipe, _sampler(clean), tmp_path)


def test_held_out_loss_is_logged_and_a_plateau_stops_training(tmp_path):
    torch.manual_seed(0)
    clean = torch.rand(16, 1, 12, 12) * 0.5 + 0.25
    sampler = _sampler(clean)
    held_out = sampler.pairs(8, torch.Generator().manual_seed(1))[:2]
    recipe = PurifierTraining(steps=400, batch_size=4, crop=8, learning_rate=1e-12,
                              checkpoint_every=2, patience=2, min_improvement=0.1)
    train_purifier(SPEC, recipe, sampler, tmp_path, held_out)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all("held_out_loss" in line for line in lines)
    # a learning rate of 1e-12 cannot improve the held-out loss by 10 %: stop after 3 checks
    assert lines[-1]["step"] == 6


def test_plateau_rule_needs_patience_checks_without_improvement():
    recipe = PurifierTraining(patience=2, min_improvement=0.01)
    assert not _plateaued([1.0, 0.9], recipe)
    assert not _plateaued([1.0, 0.9, 0.95, 0.85], recipe)
    assert _plateaued([1.0, 0.9, 0.95, 0.899], recipe)
    assert not _plateaued([1.0, 1.0, 1.0, 1.0], PurifierTraining(patience=0))


class _Threshold(nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        mean = images.flatten(1).mean(dim=1)
        return torch.stack([0.5 - mean, mean - 0.5], dim=1)


def test_evaluation_reports_psnr_and_accuracy_per_attack():
    clean = torch.cat([torch.full((4, 1, 6, 6), 0.2), torch.full((4, 1, 6, 6), 0.8)])
    labels = torch.tensor([0] * 4 + [1] * 4)
    adversarial = {"fgsm": (clean + 0.05).clamp(0, 1)}
    identity = build_purifier(SPEC)
    for parameter in identity.decoder[-1].parameters():
        nn.init.zeros_(parameter)  # correction 0: the purifier returns its input
    metrics = evaluate_purifier(identity, _Threshold(), clean, labels, adversarial)
    assert metrics["accuracy_clean"] == 1.0
    assert metrics["psnr_clean"] > 90
    assert metrics["psnr_fgsm_before"] == pytest.approx(psnr(adversarial["fgsm"], clean))
    assert metrics["psnr_fgsm_after"] == pytest.approx(metrics["psnr_fgsm_before"], abs=1e-3)


def test_psnr_of_a_known_error():
    reference = torch.zeros(2, 1, 4, 4)
    assert psnr(reference + 0.1, reference) == pytest.approx(20.0, abs=1e-4)


def test_family_cache_resumes_and_refuses_other_images_and_families(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    context = FamilyContext(epsilon=0.1, epsilon_l2=1.0, classifier=model)
    clean = torch.rand(5, 1, 4, 4)
    labels = torch.zeros(5, dtype=torch.int64)
    cache = tmp_path / "pgd.pt"
    first = family_set("pgd", context, clean, labels, cache)
    assert (first - clean).abs().max() <= 0.1 + 1e-6
    again = family_set("pgd", context, clean, labels, cache)
    assert torch.equal(first, again), "the cached set is reused"
    with pytest.raises(DataError, match="other images"):
        family_set("pgd", context, clean + 0.01, labels, cache)
    with pytest.raises(DataError, match="another attack"):
        family_set("traces", context, clean, labels, cache)


def test_white_box_cache_keys_are_their_attack_specs():
    # the key earlier runs wrote: their caches stay valid
    for name in ("fgsm", "pgd", "bim"):
        assert family(name).cache_key(0.1) == AttackSpec.default(name, 0.1).to_dict()


def test_guided_loss_is_zero_for_a_perfect_purifier_and_positive_otherwise():
    from matt.training.purifier import guided_loss

    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    clean = torch.rand(8, 1, 4, 4)
    perturbed = (clean + 0.3 * torch.randn_like(clean)).clamp(0, 1)
    identity = nn.Identity()
    with torch.no_grad():
        assert float(guided_loss(identity, classifier, clean, clean)) == pytest.approx(0, abs=1e-6)
        assert float(guided_loss(identity, classifier, perturbed, clean)) > 1e-4


def test_guided_training_needs_the_classifier_and_lowers_the_guided_loss(tmp_path):
    from matt.training.purifier import guided_loss

    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
    clean = torch.rand(64, 3, 8, 8)
    labels = torch.zeros(64, dtype=torch.int64)

    context = FamilyContext(epsilon=0.2, epsilon_l2=1.0, classifier=classifier)
    sampler = PairSampler(clean, labels, {}, mix_named("vertices"), context)
    spec = PurifierSpec(encoder="edsr", features=8, blocks=1, decoder_widths=(8,), channels=3)
    training = PurifierTraining(steps=60, batch_size=8, crop=8, learning_rate=3e-3,
                                logit_weight=1.0, logit_batch=8, checkpoint_every=60)
    with pytest.raises(SpecError, match="needs the classifier"):
        train_purifier(spec, training, sampler, tmp_path / "none")
    perturbed, originals, _ = sampler.pairs(32, torch.Generator().manual_seed(9))
    purifier = build_purifier(spec).eval()
    before = float(guided_loss(purifier, classifier, perturbed, originals))
    state = train_purifier(spec, training, sampler, tmp_path / "guided", classifier=classifier)
    purifier.load_state_dict(state)
    purifier.eval()
    assert float(guided_loss(purifier, classifier, perturbed, originals)) < before
