"""A pool run's metrics log (``pool.jsonl``) as the markdown tables kept in ``docs/``."""

from __future__ import annotations

import json
from pathlib import Path

from matt.errors import InputError

# white-box families first, then the query-attack families (matt.training.perturbations)
FAMILY_ORDER = ("fgsm", "pgd", "bim", "stripes", "squares", "vertices", "nes", "simba", "l2",
                "traces")


def read_pool_log(path: Path) -> list[dict[str, object]]:
    """The records of ``pool.jsonl``, last record per member wins."""
    if not path.is_file():
        raise InputError(f"{path} does not exist; run matt-train pool first")
    records: dict[str, dict[str, object]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(f"{path}:{number} is not a JSON line") from None
        records[str(record.get("member"))] = record
    return list(records.values())


def _cell(record: dict[str, object], key: str, digits: int) -> str:
    value = record.get(key)
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "–"


def pool_tables(records: list[dict[str, object]]) -> str:
    """Two tables per held-out set: accuracy, then PSNR, per perturbation family.

    Accuracy columns are the classifier's agreement with the reference label after the
    purifier (the ``classifier-alone`` row: without one), on held-out images perturbed by each
    family against the bare classifier; PSNR columns read before → after.
    """
    sets = sorted({key.split("/")[0] for record in records for key in record if "/" in key})
    found = {key.split("/accuracy_", 1)[1] for record in records for key in record
             if "/accuracy_" in key} - {"clean"}
    families = [f for f in FAMILY_ORDER if f in found] + sorted(found - set(FAMILY_ORDER))
    blocks = []
    for set_name in sets:
        header = ["member", "MACs/px", "radius", "steps", "CPU s", "acc clean",
                  *(f"acc {family}" for family in families)]
        rows = [_row(header), "|" + "---|" * len(header)]
        for record in records:
            rows.append(_row([str(record.get("member")), str(record.get("macs_per_pixel", "–")),
                              str(record.get("receptive_radius", "–")),
                              str(record.get("steps", "–")), _cell(record, "cpu_seconds", 0),
                              _cell(record, f"{set_name}/accuracy_clean", 3),
                              *(_cell(record, f"{set_name}/accuracy_{family}", 3)
                                for family in families)]))
        psnr_header = ["member", "PSNR clean", *(f"PSNR {family}" for family in families)]
        psnr_rows = [_row(psnr_header), "|" + "---|" * len(psnr_header)]
        for record in records:
            if record.get("member") == "classifier-alone":
                continue
            cells = [str(record.get("member")), _cell(record, f"{set_name}/psnr_clean", 2)]
            for family in families:
                before = _cell(record, f"{set_name}/psnr_{family}_before", 1)
                after = _cell(record, f"{set_name}/psnr_{family}_after", 1)
                cells.append("–" if after == "–" else f"{before} → {after}")
            psnr_rows.append(_row(cells))
        blocks.append(f"Held-out set `{set_name}`, accuracy:\n\n" + "\n".join(rows)
                      + f"\n\nHeld-out set `{set_name}`, PSNR in dB (perturbed → purified):"
                      "\n\n" + "\n".join(psnr_rows))
    return "\n\n".join(blocks) + "\n"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
