"""Every purifier of a bundle in one ONNX graph: one runtime call per query, whatever K.

The fused graph is the members' graphs side by side, untouched: member ``i`` keeps its nodes and
weights under the prefix ``m<i>/`` and has its own input ``images_<i>`` and output
``purified_<i>``, each with its own dynamic batch, height and width, so one call carries the
windows the random draw gave every member (none for a member not drawn: an empty batch). Each
window still goes through exactly one member, so the work does not grow with K; only the
number of calls drops from the members drawn to one. The per-member files stay in the bundle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import compose, helper

from matt.errors import ExportError
from matt.formats.bundle import (
    FUSED_INPUT,
    FUSED_OUTPUT,
    INT8,
    PURIFIER_INPUT,
    PURIFIER_OUTPUT,
    Manifest,
    parse_variant,
    sha256_file,
)

FUSED_FILES = {"fp32": "purifiers.fused.onnx", INT8: "purifiers.fused.int8.onnx"}
PARITY_TOLERANCE = 1e-5
"""Max |fused − per-member| on the export's check windows: the same kernels on the same data."""


def _member(model: onnx.ModelProto, index: int) -> onnx.ModelProto:
    """Member ``index`` under its prefix, with its own input, output and symbolic dimensions.

    The symbolic dimensions (``batch``, ``height``, ...) are renamed per member: ONNX Runtime
    takes dimensions of one name to be equal, and members get different batches.
    """
    prefixed = compose.add_prefix(model, f"m{index}/")
    graph = prefixed.graph
    names = {f"m{index}/{PURIFIER_INPUT}": FUSED_INPUT.format(index=index),
             f"m{index}/{PURIFIER_OUTPUT}": FUSED_OUTPUT.format(index=index)}
    for node in graph.node:
        node.input[:] = [names.get(name, name) for name in node.input]
        node.output[:] = [names.get(name, name) for name in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = names.get(value.name, value.name)
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param"):
                dim.dim_param = f"m{index}_{dim.dim_param}"
    if [v.name for v in graph.input] != [names[f"m{index}/{PURIFIER_INPUT}"]] or \
            [v.name for v in graph.output] != [names[f"m{index}/{PURIFIER_OUTPUT}"]]:
        raise ExportError(f"member {index}: a purifier graph must have one input "
                          f"{PURIFIER_INPUT!r} and one output {PURIFIER_OUTPUT!r}")
    return prefixed


def fuse_purifiers(paths: Sequence[Path], out: Path) -> None:
    """Write one graph holding the purifier graphs at ``paths`` (member ``i`` = ``paths[i]``)."""
    if not paths:
        raise ExportError("no purifier graphs to fuse")
    models = [onnx.load(str(path)) for path in paths]
    opsets = {(o.domain, o.version) for m in models for o in m.opset_import}
    if len({domain for domain, _ in opsets}) != len(opsets):
        raise ExportError(f"the purifier graphs use different opsets {sorted(opsets)}; "
                          "export them with one opset")
    members = [_member(model, index) for index, model in enumerate(models)]
    graph = helper.make_graph(
        [node for m in members for node in m.graph.node], "matt_purifiers_fused",
        [value for m in members for value in m.graph.input],
        [value for m in members for value in m.graph.output],
        [init for m in members for init in m.graph.initializer],
        value_info=[value for m in members for value in m.graph.value_info])
    fused = helper.make_model(graph, opset_imports=list(models[0].opset_import),
                              functions=[f for m in members for f in m.functions],
                              producer_name="matt-export (fused purifiers)")
    fused.ir_version = max(m.ir_version for m in models)
    try:
        onnx.checker.check_model(fused)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{out.name}: the fused graph does not check "
                          f"({str(exc).splitlines()[0][:200]})") from None
    onnx.save(fused, str(out))


def check_fused(fused: Path, members: Sequence[Path], window: tuple[int, int, int],
                seed: int = 0) -> float:
    """Max |fused − per-member| on random windows; member 0 gets an empty batch.

    Raises:
        ExportError: above :data:`PARITY_TOLERANCE`, or ONNX Runtime cannot run the graph.
    """
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    counts = [0 if index == 0 and len(members) > 1 else 1 + index % 3
              for index in range(len(members))]
    feeds = {FUSED_INPUT.format(index=i): rng.random((n, *window), dtype=np.float32)
             for i, n in enumerate(counts)}
    try:
        session = ort.InferenceSession(str(fused), options, providers=providers)
        outputs = session.run([FUSED_OUTPUT.format(index=i) for i in range(len(members))], feeds)
    except Exception as exc:  # onnxruntime raises its own kinds
        raise ExportError(f"{fused.name}: ONNX Runtime cannot run the fused graph "
                          f"({str(exc).splitlines()[0][:200]})") from None
    worst = 0.0
    for index, path in enumerate(members):
        batch = feeds[FUSED_INPUT.format(index=index)]
        if outputs[index].shape[0] != batch.shape[0]:
            raise ExportError(f"{fused.name}: member {index} gave {outputs[index].shape[0]} "
                              f"windows for {batch.shape[0]}")
        if batch.shape[0] == 0:
            continue
        alone = ort.InferenceSession(str(path), options, providers=providers)
        expected = alone.run([PURIFIER_OUTPUT], {PURIFIER_INPUT: batch})[0]
        worst = max(worst, float(np.abs(outputs[index] - expected).max()))
    if worst > PARITY_TOLERANCE:
        raise ExportError(f"{fused.name}: differs from the per-member graphs by {worst:.2e} "
                          f"(> {PARITY_TOLERANCE:g})")
    return worst


def add_fused(root: Path, manifest: Manifest, variant: str,
              window: tuple[int, int, int]) -> Manifest:
    """Fuse the members' ``variant`` graphs (``fp32``: the plain files), check, record."""
    if variant == "fp32":
        files = [model.file for model in manifest.purifiers]
    else:
        missing = [m.name for m in manifest.purifiers if variant not in m.variants]
        if missing:
            raise ExportError(f"cannot fuse {variant}: no {variant} graph for {', '.join(missing)}")
        files = [model.variants[variant].file for model in manifest.purifiers]
    relative = FUSED_FILES[variant]
    fuse_purifiers([root / file for file in files], root / relative)
    worst = check_fused(root / relative, [root / file for file in files], window)
    entry: dict[str, Any] = {
        "file": relative, "sha256": sha256_file(root / relative), "precision": variant,
        "members": [model.name for model in manifest.purifiers],
        "sources": files, "inputs": FUSED_INPUT, "outputs": FUSED_OUTPUT,
        "parity_max_abs_diff": worst,
    }
    return replace(manifest, fused={**manifest.fused,
                                    variant: parse_variant(variant, entry, "fused")})
