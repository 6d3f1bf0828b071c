"""The issue's figures, computed from the measured tables, each with a pass / miss verdict.

A figure that could not be computed (a row missing or skipped) is recorded with
``passed: null`` and the reason; nothing is left out silently.
"""

from __future__ import annotations

from typing import Any

from matt.bench.rows import label

FLAT_IN_K = 1.10
DISCO_GROWTH = 5.0
LOCAL_ENSEMBLE = 4.0
DISCO_ENCODER_SPEEDUP = 4.0
SHIPPED_SPEEDUP = 20.0
ORT_OVER_TORCH = 1.5
INT8_OVER_FP32 = 1.5
INT8_ACCURACY_LOSS = 1.0
ROOFLINE_SHARE = 0.40
MATT_SERIES = (("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"),
               ("tensorrt", "fp16"), ("tensorrt", "int8"), ("torch-cuda", "fp32"))


def _significant(value: float) -> float:
    return float(f"{value:.4g}")


def _median(table: dict[str, Any], row: str) -> float | None:
    found = table["rows"].get(row)
    return None if found is None else found["median_ms"]


def _missing(table: dict[str, Any], rows: list[str]) -> str:
    reasons = []
    for row in rows:
        if row in table["rows"]:
            continue
        why = table["skipped"].get(row)
        if why is None:
            family, backend = row.split("/")[0], row.split("/")[1].rsplit("-", 1)[0]
            why = table["skipped"].get(f"*/{backend}") or table["skipped"].get(f"{family}/*")
        reasons.append(f"{row}: {why or 'not in this run'}")
    return "not measured: " + "; ".join(reasons)


def _ratio_figure(figure_id: str, title: str, table: dict[str, Any], numerator: str,
                  denominator: str, target: float, at_least: bool,
                  note: str = "") -> dict[str, Any]:
    """median(numerator) / median(denominator) against ``target`` (>= if ``at_least``)."""
    top, bottom = _median(table, numerator), _median(table, denominator)
    entry: dict[str, Any] = {
        "id": figure_id, "title": title, "table": table["name"],
        "target": f"{'>=' if at_least else '<='} {target:g}",
        "rows": [numerator, denominator], "value": None, "passed": None,
    }
    if top is None or bottom is None:
        entry["note"] = _missing(table, [numerator, denominator])
        return entry
    value = top / bottom
    entry["value"] = _significant(value)
    entry["passed"] = bool(value >= target if at_least else value <= target)
    if note:
        entry["note"] = note
    return entry


def _k_note(ks: tuple[int, ...], wanted: int = 12) -> str:
    return "" if max(ks) == wanted else f"largest K measured is {max(ks)}, not {wanted}"


def _with_cost_mix(entry: dict[str, Any], table: dict[str, Any], high: str,
                   low: str) -> dict[str, Any]:
    """Add how much of the ratio the members' own sizes explain (mixed-architecture pools).

    Latency at K counts the first K members; where they differ in MACs per pixel, part of
    the ratio is architecture, not K. The verdict stays on the raw ratio.
    """
    rows = table["rows"]
    if entry["value"] is None or high not in rows or low not in rows:
        return entry
    macs_high, macs_low = rows[high].get("macs_per_pixel"), rows[low].get("macs_per_pixel")
    if not macs_high or not macs_low:
        return entry
    macs_ratio = macs_high / macs_low
    entry["mean_macs_ratio"] = _significant(macs_ratio)
    entry["per_mac_latency_ratio"] = _significant(entry["value"] / macs_ratio)
    if abs(macs_ratio - 1) > 0.01:
        entry["note"] = "; ".join(filter(None, [
            entry.get("note"),
            f"the first {rows[high]['k']} members average {macs_ratio:.3g}x the MACs per "
            f"pixel of the first {rows[low]['k']}: latency per MAC rose "
            f"{entry['value'] / macs_ratio:.3g}x"]))
    return entry


def flatness(table: dict[str, Any], ks: tuple[int, ...]) -> list[dict[str, Any]]:
    low, high = min(ks), max(ks)
    figures = []
    for backend, precision in MATT_SERIES:
        top, bottom = (label("matt", backend, precision, k) for k in (high, low))
        if not any(r in table["rows"] or r in table["skipped"] for r in (top, bottom)):
            continue
        entry = _ratio_figure(
            "matt_flat_in_k", f"MATT {backend} {precision}: latency(K={high}) / latency(K={low})",
            table, top, bottom, FLAT_IN_K, at_least=False, note=_k_note(ks))
        figures.append(_with_cost_mix(entry, table, top, bottom))
    return figures


def disco_figures(table: dict[str, Any], ks: tuple[int, ...]) -> list[dict[str, Any]]:
    low, high = min(ks), max(ks)
    disco_low = label("disco-ensemble", "torch", "fp32", low)
    official = label("disco-ensemble", "torch", "fp32", 1)
    figures = [] if low == high else [
        _ratio_figure("disco_grows_with_k",
                      f"DISCO ensemble: latency(K={high}) / latency(K={low})", table,
                      label("disco-ensemble", "torch", "fp32", high), disco_low, DISCO_GROWTH,
                      at_least=True, note=_k_note(ks)),
    ]
    figures += [
        _ratio_figure("local_ensemble_factor",
                      "DISCO LIIF K=1: with local ensemble / without (paper F.1: 4x)", table,
                      official, label("liif-no-local-ensemble", "torch", "fp32", 1),
                      LOCAL_ENSEMBLE, at_least=True),
        _ratio_figure("matt_disco_encoder_vs_disco",
                      f"DISCO official (K=1) / MATT with DISCO's encoder (K={high}), torch",
                      table, official, label("matt-disco-encoder", "torch", "fp32", high),
                      DISCO_ENCODER_SPEEDUP, at_least=True, note=_k_note(ks)),
    ]
    for backend, precision in MATT_SERIES:
        row = label("matt", backend, precision, high)
        if row in table["rows"] or row in table["skipped"]:
            figures.append(_ratio_figure(
                "shipped_pool_vs_disco",
                f"DISCO official (K=1) / shipped MATT pool (K={high}), {backend} {precision}",
                table, official, row, SHIPPED_SPEEDUP, at_least=True, note=_k_note(ks)))
    return figures


def backend_figures(table: dict[str, Any], ks: tuple[int, ...],
                    accuracy: dict[str, Any] | None) -> list[dict[str, Any]]:
    high = max(ks)
    torch_row = label("matt", "torch", "fp32", high)
    fp32_row = label("matt", "onnxruntime", "fp32", high)
    int8_row = label("matt", "onnxruntime", "int8", high)
    figures = [
        _ratio_figure("onnxruntime_vs_torch",
                      f"MATT K={high}: torch eager / ONNX Runtime FP32 (batch {table['batch']})",
                      table, torch_row, fp32_row, ORT_OVER_TORCH, at_least=True),
    ]
    int8 = _ratio_figure("int8_vs_fp32",
                         f"MATT K={high}: ONNX Runtime FP32 / INT8 on the CPU, at <= "
                         f"{INT8_ACCURACY_LOSS:g} point clean-accuracy loss", table, fp32_row,
                         int8_row, INT8_OVER_FP32, at_least=True)
    int8["accuracy"] = accuracy
    if int8["passed"] is not None:
        if accuracy is None or not accuracy.get("measured"):
            int8["speed_passed"], int8["passed"] = int8["passed"], None
            reason = (accuracy or {}).get("reason", "accuracy not measured in this run")
            int8["note"] = f"speed measured; accuracy not judged: {reason}"
        else:
            accurate = accuracy["loss_points"] <= INT8_ACCURACY_LOSS
            int8["speed_passed"], int8["accuracy_passed"] = int8["passed"], accurate
            int8["passed"] = bool(int8["passed"] and accurate)
    figures.append(int8)
    return figures


def roofline_figures(table: dict[str, Any], ks: tuple[int, ...]) -> list[dict[str, Any]]:
    peaks = {row: data["achieved_gflops"] for row, data in table["rows"].items()
             if data.get("family") == "sgemm"}
    high = max(ks)
    figures = []
    for backend, precision in MATT_SERIES:
        row = label("matt", backend, precision, high)
        if precision == "int8" or (row not in table["rows"] and row not in table["skipped"]):
            continue  # INT8 operations against an FP32 peak would not be a roofline
        entry: dict[str, Any] = {
            "id": "roofline", "table": table["name"], "target": f">= {ROOFLINE_SHARE:g}",
            "title": f"MATT K={high} {backend} {precision}: achieved FLOP/s / SGEMM peak",
            "rows": [row, *peaks], "value": None, "passed": None,
        }
        if not peaks or row not in table["rows"]:
            entry["note"] = _missing(table, [row, *(peaks or [label("sgemm", "torch", "fp32")])])
        else:
            peak = max(peaks.values())
            achieved = table["rows"][row]["achieved_gflops"]
            share = achieved / peak
            entry.update(value=_significant(share), passed=bool(share >= ROOFLINE_SHARE),
                         achieved_gflops=achieved, peak_gflops=peak)
        figures.append(entry)
    return figures


def compute_figures(tables: dict[str, dict[str, Any]], ks: tuple[int, ...],
                    accuracy: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every figure the tables allow: K sweeps and DISCO at batch 1, backends above it."""
    figures: list[dict[str, Any]] = []
    for table in tables.values():
        if len(ks) > 1:
            figures += flatness(table, ks)
        if table["batch"] == 1:
            figures += disco_figures(table, ks)
        else:
            figures += backend_figures(table, ks, accuracy) + roofline_figures(table, ks)
    return figures


def _diagnostic(diagnostic_id: str, title: str, table: dict[str, Any], numerator: str,
                denominator: str) -> dict[str, Any]:
    top, bottom = _median(table, numerator), _median(table, denominator)
    entry: dict[str, Any] = {"id": diagnostic_id, "title": title, "table": table["name"],
                             "rows": [numerator, denominator], "value": None}
    if top is None or bottom is None:
        entry["note"] = _missing(table, [numerator, denominator])
    else:
        entry["value"] = _significant(top / bottom)
    return entry


def compute_diagnostics(tables: dict[str, dict[str, Any]],
                        ks: tuple[int, ...]) -> list[dict[str, Any]]:
    """Ratios that explain the figures (no verdict): what the formulation saves, what halos cost."""
    found: list[dict[str, Any]] = []
    whole = label("disco-encoder-whole", "torch", "fp32", 1)
    for table in tables.values():
        if table["batch"] == 1:
            found.append(_diagnostic(
                "formulation_vs_disco", "DISCO official (K=1) / DISCO's encoder as a fully "
                "convolutional net on the whole image, torch", table,
                label("disco-ensemble", "torch", "fp32", 1), whole))
            found.append(_diagnostic(
                "tiling_cost", f"MATT with DISCO's encoder (K={min(ks)}, tiled with halos) / the "
                "same purifier on the whole image, torch", table,
                label("matt-disco-encoder", "torch", "fp32", min(ks)), whole))
        for backend, precision in MATT_SERIES:
            same_mix = _first_k_with_the_same_mix(table, backend, precision, ks)
            if same_mix is not None:
                found.append(_diagnostic(
                    "flat_same_mix", f"MATT {backend} {precision}: latency(K={max(ks)}) / "
                    f"latency(K={same_mix}), pools with the same mean MACs per pixel (the "
                    "pool size alone; K=1 is one member, so its architecture alone)",
                    table, label("matt", backend, precision, max(ks)),
                    label("matt", backend, precision, same_mix)))
        for name, row in sorted(table["rows"].items()):
            if row.get("family") == "matt" and row.get("k") == min(ks):
                image_pixels = table["batch"] * table["size"] ** 2
                found.append({
                    "id": "pixels_per_image_pixel", "table": table["name"], "rows": [name],
                    "title": f"pixels the purifiers process per image pixel (patch "
                             f"{row['patch']}, halo {row['halo']})",
                    "value": _significant(row["pixels_processed"] / image_pixels)})
                break
    return found


def _first_k_with_the_same_mix(table: dict[str, Any], backend: str, precision: str,
                               ks: tuple[int, ...]) -> int | None:
    """The smallest K below the largest whose first K members average the same MACs per pixel
    as the largest pool's (within 1 %), so that the two differ in pool size only."""
    rows = table["rows"]
    top = rows.get(label("matt", backend, precision, max(ks)), {}).get("macs_per_pixel")
    if not top:
        return None
    for k in sorted(ks)[:-1]:
        macs = rows.get(label("matt", backend, precision, k), {}).get("macs_per_pixel")
        if macs and abs(macs / top - 1) <= 0.01:
            return k
    return None


def verdict_counts(figures: list[dict[str, Any]]) -> dict[str, int]:
    return {"passed": sum(f["passed"] is True for f in figures),
            "missed": sum(f["passed"] is False for f in figures),
            "not_measured": sum(f["passed"] is None for f in figures)}
