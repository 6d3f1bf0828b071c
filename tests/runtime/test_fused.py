"""The fused graph (every purifier in one session): the per-member result, draw for draw, in
one call per query; bundles without it load and run as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from matt.core import EngineDraw
from matt.errors import BundleError, InputError
from matt.formats.bundle import MANIFEST, load_bundle, parse_manifest
from matt.runtime import Pipeline
from matt.runtime.engines.base import Concurrency, FusedRunner, Runner
from matt.runtime.fused import AUTO_UP_TO, EVERY_BATCH
from matt.runtime.scheduler import PatchScheduler, pack_calls
from tests.runtime.conftest import random_images

OLD_MANIFESTS = Path(__file__).parent / "manifests"


@pytest.mark.parametrize("batch", [1, 16, 64])
@pytest.mark.parametrize("pool", [None, [2, 0]])
def test_fused_equals_per_member_with_the_same_seed(rgb_bundle, batch, pool):
    _, bundle = rgb_bundle
    images = random_images((batch, *bundle.manifest.input_shape), seed=batch)
    with Pipeline.load(bundle, backend="onnxruntime", pool=pool, seed=5, fused="on") as fused, \
            Pipeline.load(bundle, backend="onnxruntime", pool=pool, seed=5, fused="off") as per:
        assert fused.fused_up_to == EVERY_BATCH and per.fused_up_to == 0
        assert "fused graph at every batch" in fused.describe()
        for _ in range(2):  # the draw streams continue alike
            got, expected = fused.purify(images), per.purify(images)
            assert got.shape == images.shape and got.dtype == np.float32
            assert np.abs(got - expected).max() <= 1e-5
            assert np.abs(fused.predict(images) - per.predict(images)).max() <= 1e-5


def test_auto_takes_the_fused_graph_up_to_the_measured_batch(rgb_bundle):
    _, bundle = rgb_bundle
    with Pipeline.load(bundle, backend="onnxruntime") as pipe:
        assert pipe.fused_up_to == AUTO_UP_TO["fp32"]
        assert f"fused graph up to batch {AUTO_UP_TO['fp32']}" in pipe.describe()


class _Plain(Runner):
    def __init__(self) -> None:
        self.windows = 0

    def _run(self, inputs):
        self.windows += len(inputs)
        return inputs


def test_batches_above_the_rule_go_to_the_per_member_engines():
    fused, plain = _Counting(), _Plain()
    scheduler = PatchScheduler([plain] * 3, patch=8, halo=0, concurrency=Concurrency.SEQUENTIAL,
                               fused=fused, fused_up_to=2)
    draw = EngineDraw(3, seed=0)
    scheduler.purify(np.zeros((2, 1, 16, 16), np.float32), draw)
    assert len(fused.calls) == 1 and plain.windows == 0
    scheduler.purify(np.zeros((3, 1, 16, 16), np.float32), draw)
    assert len(fused.calls) == 1 and plain.windows == 12


class _Counting(FusedRunner):
    """Member p adds p + 1; counts calls and how many windows each member got."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def _run_members(self, batches):
        self.calls.append([len(inputs) for _, inputs in batches])
        return [inputs + (position + 1) for position, inputs in batches]


class _Never(Runner):
    def _run(self, inputs):
        raise AssertionError("the per-member engines must not run on the fused path")


@pytest.mark.parametrize("concurrency", [Concurrency.THREADS, Concurrency.SEQUENTIAL,
                                         Concurrency.STREAMS])
@pytest.mark.parametrize("batch", [1, 64])
def test_every_window_goes_through_exactly_one_member(concurrency, batch):
    fused = _Counting()
    scheduler = PatchScheduler([_Never()] * 12, patch=8, halo=2, concurrency=concurrency,
                               workers=2, fused=fused, fused_up_to=EVERY_BATCH)
    images = np.zeros((batch, 1, 32, 32), np.float32)
    try:
        out = scheduler.purify(images, EngineDraw(12, seed=1))
    finally:
        scheduler.close()
    expected_ids = EngineDraw(12, seed=1).draw(16 * batch).reshape(batch, 4, 4)
    per_pixel = np.kron(expected_ids + 1, np.ones((8, 8), np.int64))
    assert np.array_equal(out[:, 0], per_pixel.astype(np.float32))
    assert sum(map(sum, fused.calls)) == 16 * batch  # each window once, whatever K
    if batch == 1 or concurrency is Concurrency.STREAMS:
        assert len(fused.calls) == 1  # one call for the whole pool (a GPU runner splits itself)
    for call in fused.calls:
        assert all(count > 0 for count in call)


def test_pack_calls_holds_each_engine_once_per_call():
    chunks = [(0, np.arange(3)), (1, np.arange(2)), (0, np.arange(3, 5)), (2, np.arange(1))]
    calls = pack_calls(chunks)
    assert [[engine for engine, _ in call] for call in calls] == [[0, 1, 2], [0]]


def _strip_fused(source: Path, target: Path) -> Path:
    """A copy of ``source`` as an older matt-export wrote it: no fused graph, no entry."""
    shutil.copytree(source, target)
    data = json.loads((target / MANIFEST).read_text())
    for entry in data.pop("fused").values():
        (target / entry["file"]).unlink()
    (target / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")
    return target


def test_a_bundle_without_the_fused_graph_loads_and_runs_as_before(rgb_bundle, tmp_path):
    _, bundle = rgb_bundle
    old = load_bundle(_strip_fused(bundle.root, tmp_path / "old"))
    assert old.manifest.fused == {} and "fused" not in json.loads(old.manifest.to_json())
    images = random_images((3, *old.manifest.input_shape), seed=2)
    with Pipeline.load(old, backend="onnxruntime", seed=9) as pipe, \
            Pipeline.load(bundle, backend="onnxruntime", seed=9, fused="off") as per:
        assert pipe.fused_up_to == 0 and "fused" not in pipe.describe()
        assert np.array_equal(pipe.purify(images), per.purify(images))
    with pytest.raises(BundleError, match="no fused fp32 graph"):
        Pipeline.load(old, backend="onnxruntime", fused="on")


@pytest.mark.parametrize("manifest", sorted(OLD_MANIFESTS.glob("*.json")), ids=lambda p: p.stem)
def test_manifests_written_before_the_fused_graph_read_back_unchanged(manifest):
    """The manifests of the round-2 bundles (committed copies): no fused entry, and parsing them
    and writing them again gives the same document, so an old bundle's checksums stay valid."""
    text = manifest.read_text()
    parsed = parse_manifest(text, where=manifest.name)
    assert parsed.fused == {}
    assert json.loads(parsed.to_json()) == json.loads(text)


def test_a_changed_fused_graph_is_refused_by_its_checksum(rgb_bundle, tmp_path):
    _, bundle = rgb_bundle
    copy = tmp_path / "tampered"
    shutil.copytree(bundle.root, copy)
    fused = copy / bundle.manifest.fused["fp32"].file
    fused.write_bytes(fused.read_bytes() + b"\0")
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(copy)


def test_bad_fused_arguments_are_refused_in_one_line(rgb_bundle):
    _, bundle = rgb_bundle
    with pytest.raises(InputError, match="fused must be one of auto, on, off"):
        Pipeline.load(bundle, backend="onnxruntime", fused="yes")
    with pytest.raises(InputError, match="backend 'torch'"):
        Pipeline.load(bundle, backend="torch", fused="on")
