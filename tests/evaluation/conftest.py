"""A ``weights.pt`` whose classifier means something: the fitted tiny CNN and a random pool."""

from __future__ import annotations

import pytest

from tests.attacks.conftest import (  # noqa: F401 - fixtures shared with the attack tests
    TINY_SPEC,
    correct_images,
    fitted_tiny_cnn,
    needs_fashion_mnist,
    one_torch_thread,
    tiny_arch_registered,
    tiny_cnn,
)
from tests.conftest import make_pool


def tiny_weights(dataset: str = "fmnist"):
    """Fashion-MNIST weights: the fitted CNN and two small random-init purifiers."""
    from matt.data.fashion_mnist import CLASS_NAMES
    from matt.training.weights import PoolMember, TilingDefaults, WeightsFile

    pool = make_pool(2, channels=1, seed=0)
    halo = max(p.spec.receptive_radius for p in pool)
    return WeightsFile(
        dataset=dataset, input_shape=(1, 28, 28), class_names=CLASS_NAMES,
        tiling=TilingDefaults(patch=7, halo=halo), classifier_spec=TINY_SPEC,
        classifier_state=fitted_tiny_cnn().state_dict(),
        pool=[PoolMember(f"p{i}", p.spec, p.state_dict(), {"attack": {"name": "pgd"}})
              for i, p in enumerate(pool)],
        provenance={"data": "tiny CNN fitted in the tests; random-init purifiers"},
    )


@pytest.fixture(scope="session")
def tiny_weights_path(tmp_path_factory, request):
    """The weights saved once per session; the tiny CNN arch stays registered meanwhile."""
    from matt.training.weights import save_weights

    request.getfixturevalue("tiny_arch_registered")
    needs_fashion_mnist()
    return save_weights(tiny_weights(), tmp_path_factory.mktemp("weights") / "fmnist.pt")
