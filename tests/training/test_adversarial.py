import pytest
import torch
from torch import nn

from matt.errors import SpecError
from matt.training.adversarial import ATTACK_NAMES, AttackSpec, perturb
from matt.training.measures import accuracy

EPSILON = 0.1


@pytest.fixture(scope="module")
def fitted():
    """A linear classifier fitted to two classes told apart by a faint pattern: easy to attack."""
    torch.manual_seed(0)
    pattern = torch.randn(1, 1, 8, 8).sign() * 0.03
    labels = torch.randint(0, 2, (400,))
    images = (0.5 + (2 * labels - 1).float()[:, None, None, None] * pattern
              + 0.01 * torch.randn(400, 1, 8, 8)).clamp(0, 1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(100):
        loss = nn.functional.cross_entropy(model(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    optimiser.zero_grad(set_to_none=True)
    return model.eval(), images, labels


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_attack_stays_in_the_ball_and_the_unit_range(fitted, name):
    model, images, labels = fitted
    spec = AttackSpec.default(name, EPSILON)
    adversarial = perturb(model, images, labels, spec, torch.Generator().manual_seed(1))
    assert adversarial.shape == images.shape
    assert (adversarial - images).abs().max() <= EPSILON + 1e-6
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert not adversarial.requires_grad


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_attack_lowers_accuracy_of_a_fitted_model(fitted, name):
    model, images, labels = fitted
    clean_accuracy = accuracy(model, images, labels)
    adversarial = perturb(model, images, labels, AttackSpec.default(name, EPSILON))
    assert clean_accuracy > 0.9
    assert accuracy(model, adversarial, labels) < clean_accuracy - 0.5


def test_iterative_attacks_are_at_least_as_strong_as_fgsm_at_a_small_budget(fitted):
    model, images, labels = fitted
    small = 0.03
    after = {name: accuracy(model, perturb(model, images, labels,
                                           AttackSpec.default(name, small)), labels)
             for name in ATTACK_NAMES}
    assert after["bim"] <= after["fgsm"] + 0.02
    assert after["pgd"] <= after["fgsm"] + 0.02


def test_attack_leaves_the_model_mode_and_parameter_gradients_alone(fitted):
    model, images, labels = fitted
    model.train()
    perturb(model, images, labels, AttackSpec.default("pgd", EPSILON))
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    model.eval()


def test_defaults_follow_the_documented_walk_lengths():
    pgd = AttackSpec.default("pgd", 8 / 255)
    bim = AttackSpec.default("bim", 8 / 255)
    assert (pgd.steps, bim.steps) == (10, 10)
    assert pgd.step_size == pytest.approx(2 / 255)
    assert bim.step_size == pytest.approx(1 / 255)
    assert AttackSpec.default("pgd", 0.1, steps=5).step_size == pytest.approx(0.05)
    assert AttackSpec.default("fgsm", 0.1).step_size == pytest.approx(0.1)


@pytest.mark.parametrize("kwargs", [
    {"name": "cw", "epsilon": 0.1, "steps": 1, "step_size": 0.1},
    {"name": "pgd", "epsilon": 0.0, "steps": 10, "step_size": 0.01},
    {"name": "pgd", "epsilon": 0.1, "steps": 0, "step_size": 0.01},
    {"name": "fgsm", "epsilon": 0.1, "steps": 3, "step_size": 0.1},
    {"name": "bim", "epsilon": 0.1, "steps": 3, "step_size": -1.0},
])
def test_bad_attack_specs_are_refused(kwargs):
    with pytest.raises(SpecError):
        AttackSpec(**kwargs)
