import pytest
import torch

from matt.errors import SpecError
from matt.models import PurifierSpec, build_purifier, purify_whole
from matt.models.encoders import ENCODERS

ENCODER_SPECS = [
    PurifierSpec(encoder=name, features=8, blocks=2, decoder_widths=(16, 8))
    for name in ENCODERS.names()
]


@pytest.mark.parametrize("spec", ENCODER_SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (2, 3, 17, 23), (3, 3, 5, 5)])
def test_shape_range_and_finite(spec, shape):
    torch.manual_seed(0)
    purifier = build_purifier(spec).eval()
    images = torch.rand(shape)
    out = purifier(images)
    assert out.shape == images.shape
    assert torch.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("spec", ENCODER_SPECS, ids=lambda s: s.name)
def test_receptive_radius_bounds_the_influence_of_a_pixel(spec):
    """Changing one pixel changes outputs within the radius only.

    The bound is tight for EDSR; RCAN's attention gate can be dead (ReLU) at random init."""
    torch.manual_seed(1)
    purifier = build_purifier(spec).double().eval()
    size, centre, radius = 41, 20, spec.receptive_radius
    images = torch.rand(1, 3, size, size, dtype=torch.float64) * 0.5 + 0.25
    changed = images.clone()
    changed[0, :, centre, centre] += 0.2
    with torch.no_grad():
        diff = (purifier(changed) - purifier(images)).abs().amax(dim=(0, 1))
    rows, cols = torch.nonzero(diff > 0, as_tuple=True)
    reach = max((rows - centre).abs().max(), (cols - centre).abs().max())
    assert reach <= radius
    if spec.encoder == "edsr":
        assert reach == radius


def test_spec_round_trip_and_validation():
    spec = PurifierSpec(encoder="rcan", features=64, blocks=3, decoder_widths=(64, 32))
    assert PurifierSpec.from_dict(spec.to_dict()) == spec
    for bad in [dict(encoder="unet"), dict(features=0), dict(decoder_widths=()),
                dict(attention_window=4), dict(blocks=-1)]:
        with pytest.raises(SpecError):
            PurifierSpec(**bad)
    with pytest.raises(SpecError, match="unknown fields"):
        PurifierSpec.from_dict({"encoder": "edsr", "depth": 3})


def test_macs_per_pixel_counts_every_convolution():
    spec = PurifierSpec(encoder="edsr", features=32, blocks=1, decoder_widths=(64,), channels=3)
    expected = 3 * 32 * 9 + 2 * 32 * 32 * 9 + 32 * 32 * 9 + 32 * 64 * 9 + 64 * 3
    assert spec.macs_per_pixel == expected


def test_purify_whole_pads_then_crops():
    torch.manual_seed(2)
    purifier = build_purifier(ENCODER_SPECS[0]).eval()
    images = torch.rand(2, 3, 12, 9)
    with torch.no_grad():
        out = purify_whole(purifier, images, 4)
    assert out.shape == images.shape
