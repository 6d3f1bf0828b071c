"""Every registered perturbation family stays in [0, 1] and inside its ball, is reproducible
from its generator, and changes the image; mixes and the sampler follow their shares."""

import pytest
import torch
from torch import nn

from matt.errors import DataError, SpecError
from matt.training.mixes import MIXES, Mix, mix_named
from matt.training.perturbations import FamilyContext, family, family_names
from matt.training.runs import check_run_config
from matt.training.sampler import PairSampler

CONTEXT = FamilyContext(epsilon=8 / 255, epsilon_l2=1.0,
                        classifier=nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4)))
L2_FAMILIES = {"simba", "l2"}


@pytest.mark.parametrize("name", family_names())
def test_family_stays_in_range_and_in_its_ball(name):
    clean = torch.rand(6, 3, 16, 16)
    with torch.no_grad():  # the classifier's own answers: an attack has something to change
        labels = CONTEXT.classifier(clean).argmax(dim=1)
    out = family(name).perturb(clean, labels, CONTEXT, torch.Generator().manual_seed(0))
    assert out.shape == clean.shape
    assert out.min() >= 0 and out.max() <= 1
    delta = (out - clean).flatten(1)
    if name in L2_FAMILIES:
        assert delta.norm(dim=1).max() <= CONTEXT.epsilon_l2 + 1e-5
    else:
        assert delta.abs().max() <= CONTEXT.epsilon + 1e-6
    changed = (delta.abs().sum(dim=1) > 0).float().mean()
    # a trace keeps the clean image when every query of its short budget raised the margin
    assert changed >= (0.5 if name == "traces" else 1.0), "the family changes the images"


@pytest.mark.parametrize("name", [n for n in family_names() if not family(n).cached])
def test_random_family_repeats_with_its_seed_and_differs_without(name):
    clean = torch.rand(4, 1, 12, 12)
    labels = torch.zeros(4, dtype=torch.int64)
    first = family(name).perturb(clean, labels, CONTEXT, torch.Generator().manual_seed(3))
    again = family(name).perturb(clean, labels, CONTEXT, torch.Generator().manual_seed(3))
    other = family(name).perturb(clean, labels, CONTEXT, torch.Generator().manual_seed(4))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_stripes_start_from_whole_columns_of_plus_or_minus_epsilon():
    clean = torch.full((50, 1, 12, 12), 0.5)
    out = family("stripes").perturb(clean, torch.zeros(50, dtype=torch.int64), CONTEXT,
                                    torch.Generator().manual_seed(0))
    delta = out - clean
    assert torch.allclose(delta.abs(), torch.full_like(delta, CONTEXT.epsilon))
    # most columns keep one sign top to bottom (squares overwrite a few)
    column_constant = (delta == delta[:, :, :1, :]).all(dim=2).float().mean()
    assert column_constant > 0.5


def _margins(classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        logits = classifier(images)
    own = logits.gather(1, labels[:, None])[:, 0]
    return own - logits.scatter(1, labels[:, None], -torch.inf).amax(dim=1)


def test_traces_are_square_candidates_that_never_raise_the_classifiers_margin():
    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    context = FamilyContext(epsilon=16 / 255, epsilon_l2=1.0, classifier=classifier)
    clean = torch.rand(40, 3, 16, 16)
    with torch.no_grad():
        labels = classifier(clean).argmax(dim=1)
    traces = family("traces").perturb(clean, labels, context, torch.Generator().manual_seed(0))
    before, after = _margins(classifier, clean, labels), _margins(classifier, traces, labels)
    assert (after <= before + 1e-5).all(), "a candidate is the lowest-margin query so far"
    assert (after < before - 1e-3).float().mean() > 0.8, "the search moved most images"
    assert (after < 0).any(), "some traces are adversarial examples of the bare classifier"


def test_unknown_family_and_bad_mixes_are_refused():
    with pytest.raises(SpecError, match="unknown perturbation family"):
        family("jpeg")
    with pytest.raises(SpecError, match="sum to 1"):
        Mix("bad", (("stripes", 0.5), ("squares", 0.2)))
    with pytest.raises(SpecError, match="named twice"):
        Mix("bad", (("stripes", 0.5), ("stripes", 0.5)))


@pytest.mark.parametrize("name", sorted(MIXES))
def test_every_mix_holds_square_families(name):
    shares = dict(mix_named(name).shares)
    square = ("stripes", "squares", "traces")  # its start, its proposals, its search
    assert sum(shares.get(family_name, 0) for family_name in square) >= 0.4


def test_sampler_follows_the_mix_shares_and_uses_cached_sets():
    clean = torch.rand(40, 1, 8, 8)
    labels = torch.zeros(40, dtype=torch.int64)
    cached = {"pgd": torch.zeros(10, 1, 8, 8)}
    mix = Mix("half", (("pgd", 0.5), ("vertices", 0.5)))
    sampler = PairSampler(clean, labels, cached, mix, CONTEXT)
    perturbed, _originals, names = sampler.pairs(2000, torch.Generator().manual_seed(0))
    share = names.count("pgd") / len(names)
    assert 0.45 < share < 0.55
    rows = torch.tensor([name == "pgd" for name in names])
    assert (perturbed[rows] == 0).all(), "pgd rows come from the cached set"
    crops, clean_crops = sampler.crops(5, 4, True, torch.Generator().manual_seed(0))
    assert crops.shape == clean_crops.shape == (5, 1, 4, 4)
    with pytest.raises(DataError, match="no cached pgd"):
        PairSampler(clean, labels, {}, mix, CONTEXT)


def test_run_config_refuses_another_configuration(tmp_path):
    check_run_config(tmp_path, {"dataset": "fmnist", "seed": 0})
    check_run_config(tmp_path, {"dataset": "fmnist", "seed": 0})
    with pytest.raises(Exception, match="differs in seed"):
        check_run_config(tmp_path, {"dataset": "fmnist", "seed": 1})


def test_diversity_is_symmetric_zero_for_copies_and_positive_for_different_members():
    from matt.training.diversity import diversity_table, pairwise_distance
    from tests.conftest import make_pool

    first, second = make_pool(2, channels=1, seed=0)
    images = torch.rand(6, 1, 10, 10)
    distances = pairwise_distance([first, first, second], images)
    assert torch.equal(distances, distances.T)
    assert float(distances[0, 1]) == 0.0 and float(distances[0, 2]) > 0
    assert "mean ν over 3 pairs" in diversity_table(["a", "b", "c"], distances)


def test_curves_read_each_members_held_out_loss_and_plot(tmp_path):
    import json

    from matt.training.curves import plot_curves, read_curves

    log = tmp_path / "members" / "a" / "metrics.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("\n".join(json.dumps({"step": s, "loss": 1.0, "held_out_loss": 1 / s})
                             for s in (250, 500)) + "\n")
    curves = read_curves(tmp_path)
    assert curves == {"a": [(250, 0.004), (500, 0.002)]}
    path = plot_curves(curves, tmp_path / "c.png", "t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(Exception, match="no member"):
        read_curves(tmp_path / "members")
