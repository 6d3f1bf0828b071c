"""A pool run's metrics log (``pool.jsonl``) as the markdown tables kept in ``docs/``."""

from __future__ import annotations

import json
from pathlib import Path

from matt.errors import InputError

ATTACK_ORDER = ("fgsm", "pgd", "bim")


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
    """One table per held-out set: cost, clean fidelity and per-attack PSNR and accuracy.

    Accuracy columns are the classifier's agreement with the reference label after the
    purifier (the ``classifier-alone`` row: without one); PSNR columns read before → after.
    """
    sets = sorted({key.split("/")[0] for record in records for key in record if "/" in key})
    attacks = [a for a in ATTACK_ORDER
               if any(f"/accuracy_{a}" in key for record in records for key in record)]
    blocks = []
    for set_name in sets:
        header = ["member", "MACs/px", "radius", "PSNR clean", "acc clean"]
        for attack in attacks:
            header += [f"PSNR {attack} before→after", f"acc {attack}"]
        rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for record in records:
            cells = [str(record.get("member")), str(record.get("macs_per_pixel", "–")),
                     str(record.get("receptive_radius", "–")),
                     _cell(record, f"{set_name}/psnr_clean", 2),
                     _cell(record, f"{set_name}/accuracy_clean", 3)]
            for attack in attacks:
                before = _cell(record, f"{set_name}/psnr_{attack}_before", 2)
                after = _cell(record, f"{set_name}/psnr_{attack}_after", 2)
                cells += ["–" if after == "–" else f"{before} → {after}",
                          _cell(record, f"{set_name}/accuracy_{attack}", 3)]
            rows.append("| " + " | ".join(cells) + " |")
        blocks.append(f"Held-out set `{set_name}`:\n\n" + "\n".join(rows))
    return "\n\n".join(blocks) + "\n"
