"""The one-screen summary ``matt-export`` prints: models, sizes, MACs per pixel, parity, INT8."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matt.formats.bundle import ENGINE_PREFIX, INT8, Manifest, ModelFile


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def _count(value: int) -> str:
    return f"{value / 1e6:.2f} M" if value >= 1e6 else f"{value / 1e3:.1f} k"


def _figure(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"


def _row(root: Path, model: ModelFile, parity: dict[str, Any]) -> list[str]:
    int8: Mapping[str, Any] = model.variants.get(INT8, {})
    quality = int8.get("quality", {})
    engines = sorted(kind.removeprefix(ENGINE_PREFIX) for kind in model.variants
                     if kind.startswith(ENGINE_PREFIX))
    psnr = quality.get("psnr_int8_vs_fp32_db")
    return [
        model.name, _count(model.parameters), _count(model.macs_per_pixel),
        _size(root / model.file),
        _size(root / int8["file"]) if int8 else "-",
        f"{parity.get(model.name, {}).get('max_abs_diff', float('nan')):.1e}",
        _figure(psnr, " dB") if int8 else "-",
        _figure(quality.get("accuracy_change")) if int8 else "-",
        ",".join(engines) or "-",
    ]


def summary_text(root: Path, manifest: Manifest) -> str:
    """A plain-text table of the bundle at ``root``, with a header and the parity verdict."""
    header = ["model", "params", "MACs/px", "onnx", "int8", "parity", "int8 PSNR", "int8 Δacc",
              "engines"]
    models = manifest.parity.get("models", {})
    rows = [_row(root, model, models) for model in (*manifest.purifiers, manifest.classifier)]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    channels, height, width = manifest.input_shape
    parity = manifest.parity
    real = "real" if parity.get("real", True) else "RANDOM (no real images)"
    lines = [
        f"bundle {root}  dataset {manifest.dataset}  input {channels}×{height}×{width}  "
        f"patch {manifest.patch}  halo {manifest.halo}  pool {len(manifest.purifiers)}",
        line(header), line(["-" * w for w in widths]), *(line(row) for row in rows),
        f"parity: ONNX Runtime vs torch, max abs diff ≤ {parity.get('tolerance')} on "
        f"{parity.get('images')} {real} images: {parity.get('source')}",
    ]
    calibration = manifest.export.get("calibration")
    if calibration:
        lines.append(f"int8: calibrated on {calibration['source']}; PSNR of INT8 against FP32 "
                     "purified images, Δacc = accuracy change on the parity images' labels")
    return "\n".join(lines)
