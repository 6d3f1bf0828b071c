import pytest
import torch

from matt.errors import WeightsError
from matt.training.weights import load_weights, save_weights
from tests.conftest import make_weights


def test_round_trip_rebuilds_the_same_models(weights_path):
    original = make_weights()
    loaded = load_weights(weights_path)
    assert loaded.class_names == original.class_names
    assert [m.spec for m in loaded.pool] == [m.spec for m in original.pool]
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        for built, member in zip(loaded.build_pool(), original.pool, strict=True):
            assert torch.equal(built(images), member.build()(images))
        assert torch.equal(loaded.build_classifier()(images),
                           original.build_classifier()(images))


def test_tampered_file_is_refused(weights_path):
    data = bytearray(weights_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights_path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_weights(weights_path)


def test_truncated_file_without_sidecar_is_refused(weights_path):
    weights_path.write_bytes(weights_path.read_bytes()[:1000])
    weights_path.with_name("weights.pt.sha256").unlink()
    with pytest.raises(WeightsError, match="not a readable weights file"):
        load_weights(weights_path)


def test_foreign_files_are_refused(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(WeightsError, match="not a matt weights file"):
        load_weights(foreign)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(WeightsError):
        load_weights(text)
    with pytest.raises(WeightsError, match="no such"):
        load_weights(tmp_path / "missing.pt")


def test_pickled_code_is_not_executed(tmp_path):
    """weights_only=True: a pickle that would call a function is refused, not run."""
    import pickle

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(WeightsError):
        load_weights(path)


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    def fail(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(OSError):
        save_weights(make_weights(), tmp_path / "w.pt")
    assert list(tmp_path.iterdir()) == []
