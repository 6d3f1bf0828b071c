import pytest
import torch

from matt.models import DiscoEnsemble, DiscoSpec, LiifPurifier

SMALL = DiscoSpec(features=8, blocks=1, hidden=(16, 16))


@pytest.mark.parametrize("local_ensemble", [True, False])
def test_liif_purifier_keeps_shape_and_range(local_ensemble):
    torch.manual_seed(0)
    model = LiifPurifier(DiscoSpec(**{**SMALL.to_dict(), "hidden": (16, 16),
                                      "local_ensemble": local_ensemble})).eval()
    images = torch.rand(2, 3, 11, 13)
    with torch.no_grad():
        out = model(images)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1


def test_local_ensemble_blends_neighbouring_features():
    """Each query mixes four neighbouring feature vectors, so ensemble ≠ single query."""
    torch.manual_seed(0)
    blended = LiifPurifier(SMALL).eval()
    single = LiifPurifier(DiscoSpec(**{**SMALL.to_dict(), "hidden": (16, 16),
                                       "local_ensemble": False})).eval()
    single.load_state_dict(blended.state_dict())
    images = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(blended(images), single(images))


def test_ensemble_runs_every_encoder_and_draws_the_decoder():
    torch.manual_seed(0)
    members = [LiifPurifier(SMALL).eval() for _ in range(3)]
    calls = []
    for member in members:
        member.encoder.register_forward_hook(lambda *_: calls.append(1))
    ensemble = DiscoEnsemble(members, generator=torch.Generator().manual_seed(0))
    images = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        outputs = {tuple(ensemble(images).flatten()[:8].tolist()) for _ in range(12)}
    assert len(calls) == 36
    assert len(outputs) > 1
