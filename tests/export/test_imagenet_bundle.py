"""A 3×224×224 imagenet bundle end to end: weights.pt → matt-export → runtime, bad sizes refused.

Random-init EfficientNet-Lite0 (the shipped architecture, preprocessing inside) and two small
random purifiers stand in for the trained files, so the test needs no download; the parity
check of the export runs on the real foolbox ImageNet images.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matt.errors import InputError
from tests.conftest import make_pool


@pytest.fixture(scope="module")
def imagenet_bundle(tmp_path_factory):
    from matt.export import export_bundle
    from matt.export.options import ExportOptions
    from matt.formats.weights import PoolMember, TilingDefaults, WeightsFile, save_weights
    from matt.models import build_classifier
    from matt.models.efficientnet import default_spec

    folder = tmp_path_factory.mktemp("imagenet")
    spec = default_spec()
    torch.manual_seed(0)
    classifier = build_classifier(spec).eval()
    pool = make_pool(2)
    weights = WeightsFile(
        dataset="imagenet", input_shape=(3, 224, 224),
        class_names=tuple(f"c{i}" for i in range(spec.num_classes)),
        tiling=TilingDefaults(patch=56, halo=max(p.spec.receptive_radius for p in pool)),
        classifier_spec=spec, classifier_state=classifier.state_dict(),
        pool=[PoolMember(f"p{i}", p.spec, p.state_dict(), {"attack": "random"})
              for i, p in enumerate(pool)],
        provenance={"data": "random init (test fixture)"})
    path = save_weights(weights, folder / "imagenet.pt")
    bundle = export_bundle(path, folder / "bundle",
                           options=ExportOptions(check_images=2, fused=False))
    return weights, bundle


def test_the_runtime_classifies_224_images_like_torch(imagenet_bundle):
    from matt.data import load_foolbox_samples
    from matt.runtime import Pipeline

    weights, bundle = imagenet_bundle
    images = load_foolbox_samples("imagenet", size=224).images[:2]
    with Pipeline.load(bundle, backend="onnxruntime") as pipe:
        assert pipe.describe()  # a one-line summary, whatever the backend
        probabilities = pipe.classify_undefended(images)
        defended = pipe.predict(images)
    assert probabilities.shape == defended.shape == (2, 1000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    with torch.no_grad():
        expected = torch.softmax(weights.build_classifier()(torch.from_numpy(images)), 1)
    np.testing.assert_allclose(probabilities, expected.numpy(), atol=1e-4)


@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (1, 1, 224, 224), (1, 3, 224, 200)])
def test_other_sizes_and_channels_are_refused_in_one_line(imagenet_bundle, shape):
    from matt.runtime import Pipeline

    _, bundle = imagenet_bundle
    with Pipeline.load(bundle, backend="onnxruntime") as pipe, \
            pytest.raises(InputError) as caught:
        pipe.predict(np.zeros(shape, dtype=np.float32))
    assert "\n" not in str(caught.value) and "224" in str(caught.value)
