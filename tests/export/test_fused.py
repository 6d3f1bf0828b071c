"""``matt-export`` writes the fused graph (every purifier in one ONNX graph) as an extra,
checked and recorded variant; the per-member files stay."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from matt.errors import ExportError
from matt.export.fused import FUSED_FILES, fuse_purifiers
from matt.formats.bundle import MANIFEST, load_bundle
from tests.export.conftest import invoke_cli


def test_the_int8_export_has_fused_fp32_and_int8_graphs(int8_export):
    _, out_dir, run = int8_export
    assert run.exit_code == 0, run.stderr
    bundle = load_bundle(out_dir)
    manifest = bundle.manifest
    assert set(manifest.fused) == {"fp32", "int8"}
    for variant, entry in manifest.fused.items():
        assert entry.file == FUSED_FILES[variant] and (out_dir / entry.file).is_file()
        assert entry["members"] == [model.name for model in manifest.purifiers]
        assert entry["parity_max_abs_diff"] <= 1e-5
        graph = onnx.load(str(out_dir / entry.file))
        assert [v.name for v in graph.graph.input] == \
            [f"images_{i}" for i in range(len(manifest.purifiers))]
    for model in manifest.purifiers:  # the per-member graphs are kept
        assert (out_dir / model.file).is_file()
        assert (out_dir / model.variants["int8"].file).is_file()
    assert json.loads((out_dir / MANIFEST).read_text())["fused"]["int8"]["sources"] == \
        [model.variants["int8"].file for model in manifest.purifiers]


def test_no_fused_leaves_the_bundle_as_older_exports_wrote_it(random_weights, tmp_path):
    run = invoke_cli(random_weights, "-o", tmp_path / "plain", "--no-fused", "--check-images", "4")
    assert run.exit_code == 0, run.stderr
    assert "fused" not in json.loads((tmp_path / "plain" / MANIFEST).read_text())
    assert not list((tmp_path / "plain").glob("purifiers.fused*"))


def test_members_keep_their_own_batch_and_an_empty_one_runs(int8_export):
    _, out_dir, _ = int8_export
    manifest = load_bundle(out_dir).manifest
    session = ort.InferenceSession(str(out_dir / manifest.fused["fp32"].file),
                                   providers=["CPUExecutionProvider"])
    alone = ort.InferenceSession(str(out_dir / manifest.purifiers[1].file),
                                 providers=["CPUExecutionProvider"])
    windows = np.random.default_rng(0).random((3, 3, 12, 10), dtype=np.float32)
    feeds = {"images_0": np.empty((0, 3, 12, 10), np.float32), "images_1": windows}
    first, second = session.run(["purified_0", "purified_1"], feeds)
    assert first.shape == (0, 3, 12, 10)
    np.testing.assert_allclose(second, alone.run(None, {"images": windows})[0], atol=1e-6)


def test_fusing_nothing_or_a_foreign_graph_is_refused(tmp_path):
    with pytest.raises(ExportError, match="no purifier graphs"):
        fuse_purifiers([], tmp_path / "fused.onnx")
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    out = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    model = onnx.helper.make_model(onnx.helper.make_graph([node], "g", [value], [out]))
    onnx.save(model, str(tmp_path / "foreign.onnx"))
    with pytest.raises(ExportError, match="one input 'images'"):
        fuse_purifiers([tmp_path / "foreign.onnx"], tmp_path / "fused.onnx")
    assert not (tmp_path / "fused.onnx").exists()
