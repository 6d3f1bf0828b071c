"""Remote mode: the evaluation attacks a real ``tritonserver`` serving an exported bundle."""

from __future__ import annotations

import dataclasses

import pytest

from matt.evaluation import evaluate
from tests.attacks.conftest import one_thread
from tests.evaluation.test_report import _request


@pytest.mark.slow
def test_a_live_server_is_attacked_query_by_query(tiny_weights_path, tmp_path, monkeypatch):
    from matt.export.bundle_writer import export_bundle
    from matt.serve.options import ServeOptions
    from tests.serve.conftest import running_server

    monkeypatch.setenv("MATT_CACHE_DIR", str(tmp_path / "cache"))
    # exported here: the tiny test arch is registered in this process only
    bundle = tmp_path / "bundle"
    export_bundle(tiny_weights_path, bundle)
    with one_thread(), running_server(bundle, tmp_path, ServeOptions()) as server:
        request = _request(tiny_weights_path, tmp_path, url=f"127.0.0.1:{server.ports.http}")
        profile = request.profile.with_overrides(attacks=("square",), defenses=("remote",),
                                                 n_images=2, k_images=0, patch_images=0)
        results = evaluate(dataclasses.replace(request, profile=profile))
    cell = results["robust_accuracy"]["square"]["remote"]
    assert cell["n_images"] == 2
    # MATT is random: the attack runs to the budget on every image it has not broken.
    assert 1 < cell["mean_queries"] <= 60
    assert results["clean_accuracy"]["remote"] is not None


@pytest.mark.slow
def test_a_server_of_another_shape_is_one_clear_line(tiny_weights_path, tmp_path):
    from matt.errors import InputError
    from matt.evaluation.defenses import _check_served_shape
    from matt.evaluation.subject import resolve_subject

    class _Client:
        def model_metadata(self):
            return {"inputs": [{"name": "images", "shape": [-1, 3, 32, 32]}]}

    subject = resolve_subject(str(tiny_weights_path))
    subject.remote_url = "127.0.0.1:1"
    with pytest.raises(InputError, match=r"takes images of shape \(3, 32, 32\), the bundle"):
        _check_served_shape(_Client(), subject)
