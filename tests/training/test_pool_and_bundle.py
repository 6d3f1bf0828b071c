from dataclasses import replace

import pytest
import torch

from matt.errors import InputError, SpecError
from matt.models import ClassifierSpec, PurifierSpec, build_classifier
from matt.training.artifacts import ClassifierFile, save_purifier
from matt.training.bundling import assemble_weights, collect_members, defended_accuracy
from matt.training.mixes import mix_named
from matt.training.perturbations import FamilyContext
from matt.training.pool import (
    build_sources,
    initial_members,
    member_grid,
    member_seed,
    parse_archs,
    train_pool,
)
from matt.training.purifier import PurifierTraining
from matt.training.weights import PoolMember, load_weights, save_weights
from tests.conftest import make_pool


def _mixes(*names: str):
    return tuple(mix_named(name) for name in names)


def test_grid_covers_mix_and_architecture_with_distinct_names():
    archs = parse_archs(("edsr32", "rcan32", "edsr64", "rcan64"))
    plans = member_grid(_mixes("fgsm", "pgd", "bim"), archs, channels=3)
    assert len(plans) == 12
    assert len({plan.name for plan in plans}) == 12
    assert {plan.spec.features for plan in plans} == {32, 64}
    assert all(plan.spec.channels == 3 for plan in plans)
    assert [plan.spec.features for plan in plans[:6]] == [32] * 6


def test_32_deep_presets_stay_under_100k_macs_per_pixel():
    for plan in member_grid(_mixes("pgd"), parse_archs(("edsr32", "rcan32")), channels=3):
        assert plan.spec.macs_per_pixel <= 100_000


def test_unknown_architecture_and_mix_are_refused():
    with pytest.raises(SpecError, match="unknown architectures"):
        parse_archs(("edsr48",))
    with pytest.raises(SpecError, match="unknown mix"):
        mix_named("squarez")


def test_member_seeds_differ_between_members_and_repeat_per_name():
    assert member_seed("pgd-edsr32x2", 0) != member_seed("bim-edsr32x2", 0)
    assert member_seed("pgd-edsr32x2", 0) == member_seed("pgd-edsr32x2", 0)


def _classifier_file(channels: int = 1, size: int = 8) -> ClassifierFile:
    spec = ClassifierSpec("resnet", num_classes=2, channels=channels, width=4, blocks=1)
    torch.manual_seed(0)
    return ClassifierFile("fmnist", (channels, size, size), ("a", "b"), spec,
                          build_classifier(spec).eval().state_dict(), {"data": "random"})


def test_pool_trains_each_member_once_and_bundles(tmp_path):
    target = _classifier_file()
    classifier = target.build()
    images = torch.rand(12, 1, 8, 8)
    labels = torch.randint(0, 2, (12,))
    context = FamilyContext(0.1, 1.0, classifier)
    sources = build_sources(classifier, images, labels, {"test": (images[:4], labels[:4])},
                            ("fgsm", "stripes"), context, tmp_path, "random images",
                            whitebox_count=6)
    assert len(sources.train_cached["fgsm"]) == 6 and len(sources.train_clean) == 12
    plans = member_grid(_mixes("fgsm", "stripes"), parse_archs(("edsr32",)), channels=1)
    recipe = PurifierTraining(steps=2, batch_size=4, crop=8, checkpoint_every=1)
    members = train_pool(plans, recipe, classifier, sources, tmp_path, {"dataset": "fmnist"})
    assert [m.name for m in members] == ["fgsm-edsr32x2", "stripes-edsr32x2"]
    metrics = members[1].provenance["metrics"]
    assert {"test/psnr_clean", "test/psnr_stripes_before", "test/psnr_stripes_after",
            "test/accuracy_fgsm", "test/accuracy_stripes"} <= set(metrics)
    stamp = (tmp_path / "members" / "stripes-edsr32x2" / "purifier.pt").stat().st_mtime_ns
    train_pool(plans, recipe, classifier, sources, tmp_path, {"dataset": "fmnist"})
    assert (tmp_path / "members" / "stripes-edsr32x2" / "purifier.pt").stat().st_mtime_ns == stamp

    collected = collect_members(tmp_path)
    weights = assemble_weights(target, collected, patch=4, halo=None, provenance={"data": "x"})
    assert weights.tiling.halo == max(m.spec.receptive_radius for m in collected)
    path = save_weights(weights, tmp_path / "weights.pt")
    loaded = load_weights(path)
    assert [m.name for m in loaded.pool] == [m.name for m in collected]
    result = defended_accuracy(loaded, images, labels, seed=0)
    assert 0 <= result["classifier+matt"] <= 1 and result["images"] == 12


def test_a_pool_fine_tuned_from_another_starts_from_its_members(tmp_path):
    """--init-dir: with a learning rate of ~0 the fine-tuned member keeps its start's weights
    (a random init would not), its provenance names the start, and a missing start is refused."""
    classifier = _classifier_file().build()
    images, labels = torch.rand(8, 1, 8, 8), torch.randint(0, 2, (8,))
    context = FamilyContext(0.1, 1.0, classifier)
    plans = member_grid(_mixes("stripes"), parse_archs(("edsr32",)), channels=1)
    first = tmp_path / "first"
    sources = build_sources(classifier, images, labels, {"test": (images[:4], labels[:4])},
                            ("stripes",), context, first, "random images", whitebox_count=4)
    recipe = PurifierTraining(steps=3, batch_size=4, crop=8, checkpoint_every=1)
    (start,) = train_pool(plans, recipe, classifier, sources, first, {"dataset": "fmnist"})
    still = replace(recipe, learning_rate=1e-12, seed=5)
    (tuned,) = train_pool(plans, still, classifier, sources, tmp_path / "tuned",
                          {"dataset": "fmnist"}, initial_members(first, plans))
    assert all(torch.allclose(tuned.state_dict[k], start.state_dict[k], atol=1e-6)
               for k in start.state_dict)
    assert tuned.provenance["initialised_from"]["steps_done"] == 3
    with pytest.raises(InputError, match="no finished member stripes-edsr32x2"):
        initial_members(tmp_path / "empty", plans)


def test_bundle_refuses_purifiers_of_another_channel_count(tmp_path):
    rgb = make_pool(1, channels=3)[0]
    member = PoolMember("rgb", rgb.spec, rgb.state_dict(), {})
    with pytest.raises(InputError, match="3 channels"):
        assemble_weights(_classifier_file(channels=1), [member], 4, None, {})


def test_bundle_refuses_a_pool_of_another_dataset():
    grey = make_pool(1, channels=1)[0]
    member = PoolMember("grey", grey.spec, grey.state_dict(), {"dataset": "cifar10"})
    with pytest.raises(InputError, match="trained for cifar10"):
        assemble_weights(_classifier_file(channels=1), [member], 4, None, {})


def test_collect_members_names_what_is_missing(tmp_path):
    with pytest.raises(InputError, match="no finished purifiers"):
        collect_members(tmp_path)
    spec = PurifierSpec(encoder="edsr", features=8, blocks=1, decoder_widths=(16,), channels=1)
    purifier = make_pool(1, channels=1)[0]
    save_purifier(PoolMember("only", spec, purifier.state_dict(), {}),
                  tmp_path / "members" / "only" / "purifier.pt")
    with pytest.raises(InputError, match="no finished members"):
        collect_members(tmp_path, ["other"])


def test_pool_table_shows_every_member_and_set(tmp_path):
    import json

    from matt.training.report import pool_tables, read_pool_log

    log = tmp_path / "pool.jsonl"
    log.write_text("\n".join(json.dumps(record) for record in [
        {"member": "classifier-alone", "test/accuracy_clean": 0.9, "test/accuracy_pgd": 0.1},
        {"member": "pgd-edsr32x2", "macs_per_pixel": 65568, "receptive_radius": 7,
         "steps": 750, "cpu_seconds": 120.4,
         "test/psnr_clean": 40.0, "test/accuracy_clean": 0.89, "test/psnr_pgd_before": 30.0,
         "test/psnr_pgd_after": 33.5, "test/accuracy_pgd": 0.7},
    ]) + "\n")
    text = pool_tables(read_pool_log(log))
    assert "Held-out set `test`, accuracy" in text
    assert "| pgd-edsr32x2 | 65568 | 7 | 750 | 120 | 0.890 | 0.700 |" in text
    assert "| classifier-alone | – | – | – | – | 0.900 | 0.100 |" in text
    assert "| pgd-edsr32x2 | 40.00 | 30.0 → 33.5 |" in text


def test_a_member_claimed_by_a_live_process_is_passed_by_and_a_dead_claim_taken_over(tmp_path):
    import os
    import subprocess
    import sys

    from matt.training.pool import CLAIM, claim_member

    folder = tmp_path / "members" / "m"
    assert claim_member(folder), "a free member is claimed"
    assert claim_member(folder), "its own claim is kept"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (folder / CLAIM).write_text(str(holder.pid))
        assert not claim_member(folder), "another live process holds it"
    finally:
        holder.kill()
        holder.wait()
    assert claim_member(folder), "the claim of a dead process is taken over"
    assert (folder / CLAIM).read_text() == str(os.getpid())
    assert sorted(p.name for p in folder.iterdir()) == [CLAIM], "no temporary file left"
