"""``matt-train``: bad input gives one ``error:`` line and exit 2; bundling writes a weights.pt."""


import torch

from matt.training.artifacts import ClassifierFile, save_purifier
from matt.training.weights import PoolMember, load_weights
from tests.conftest import make_pool, run_matt_train

run = run_matt_train


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_import_keras_refuses_a_missing_and_a_foreign_file(monkeypatch, capsys, tmp_path):
    code, _, err = run(monkeypatch, capsys, "import-keras", str(tmp_path / "nope.h5"),
                       "-o", str(tmp_path / "c.pt"))
    assert code == 2 and "does not exist" in _one_error_line(err)
    foreign = tmp_path / "foreign.h5"
    foreign.write_bytes(b"not hdf5 at all")
    code, _, err = run(monkeypatch, capsys, "import-keras", str(foreign),
                       "-o", str(tmp_path / "c.pt"))
    assert code == 2 and "foreign.h5" in _one_error_line(err)
    assert not (tmp_path / "c.pt").exists()


def test_pool_refuses_a_foreign_classifier_file(monkeypatch, capsys, tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "model.pt")
    code, _, err = run(monkeypatch, capsys, "pool", "--dataset", "fmnist", "--classifier",
                       str(tmp_path / "model.pt"), "--run-dir", str(tmp_path / "run"))
    assert code == 2 and "not a matt-classifier file" in _one_error_line(err)


def test_pool_refuses_a_missing_init_dir_member_before_writing_anything(monkeypatch, capsys,
                                                                         tmp_path):
    from matt.models import ClassifierSpec, build_classifier

    spec = ClassifierSpec("resnet", num_classes=10, channels=1, width=4, blocks=1)
    ClassifierFile("fmnist", (1, 28, 28), tuple("abcdefghij"), spec,
                   build_classifier(spec).state_dict(), {}).save(tmp_path / "c.pt")
    code, _, err = run(monkeypatch, capsys, "pool", "--dataset", "fmnist", "--classifier",
                       str(tmp_path / "c.pt"), "--run-dir", str(tmp_path / "run"),
                       "--init-dir", str(tmp_path / "nothing"))
    assert code == 2 and "no finished member traces+query-edsr32x2" in _one_error_line(err)
    assert not (tmp_path / "run").exists()


def test_classifier_refuses_a_missing_dataset_folder(monkeypatch, capsys, tmp_path):
    code, _, err = run(monkeypatch, capsys, "classifier", "--data-dir", str(tmp_path / "none"),
                       "--run-dir", str(tmp_path / "run"))
    assert code == 2 and "does not exist" in _one_error_line(err)


def test_bundle_writes_weights_and_refuses_an_empty_pool(monkeypatch, capsys, tmp_path):
    from matt.models import ClassifierSpec, build_classifier

    spec = ClassifierSpec("resnet", num_classes=2, channels=3, width=4, blocks=1)
    ClassifierFile("cifar10", (3, 8, 8), ("a", "b"), spec, build_classifier(spec).state_dict(),
                   {"training": {"epochs": 1}}).save(tmp_path / "c.pt")
    output = tmp_path / "w.pt"
    code, _, err = run(monkeypatch, capsys, "bundle", "--classifier", str(tmp_path / "c.pt"),
                       "--pool-dir", str(tmp_path / "pool"), "--patch", "4", "-o", str(output))
    assert code == 2 and "no finished purifiers" in _one_error_line(err)
    assert not output.exists()
    for index, purifier in enumerate(make_pool(2, channels=3)):
        member = PoolMember(f"m{index}", purifier.spec, purifier.state_dict(),
                            {"dataset": "cifar10", "attack": {"name": "pgd"},
                             "training": {"steps": 5}, "data": "random"})
        save_purifier(member, tmp_path / "pool" / "members" / member.name / "purifier.pt")
    code, _, err = run(monkeypatch, capsys, "bundle", "--classifier", str(tmp_path / "c.pt"),
                         "--pool-dir", str(tmp_path / "pool"), "--patch", "4", "-o", str(output))
    assert code == 0, err
    weights = load_weights(output)
    assert [m.name for m in weights.pool] == ["m0", "m1"]
    assert weights.tiling.patch == 4
    assert weights.provenance["attacks"] == ["pgd"]
    assert "matt-train bundle" in str(weights.provenance["command"])
