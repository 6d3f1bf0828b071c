"""Where a cell's online losses happen, from its committed checkpoint.

    .venv/bin/python tools/online_losses.py docs/results/RECORD/checkpoints/ATTACK__DEFENSE.json [N]

Prints how many images were lost by query 2, 10, 200, ... and, of the images lost online, how
many end with a candidate that fresh queries still classify right (offline rule): those were
lost to a single wrong draw on the attack's path, not to an adversarial example it found.
With N, only the cell's first N images (to compare with a cell run on a prefix of the set).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    if len(sys.argv) not in (2, 3) or not Path(sys.argv[1]).is_file() or (
            len(sys.argv) == 3 and not sys.argv[2].isdigit()):
        sys.exit("usage: tools/online_losses.py CHECKPOINT.json [N] (a matt-eval cell "
                 "checkpoint; N: its first N images)")
    by_index = json.loads(Path(sys.argv[1]).read_text())["images"]
    images = [by_index[key] for key in sorted(by_index, key=int)]
    if len(sys.argv) == 3:
        images = images[:int(sys.argv[2])]
    lost = [image for image in images if image["first_wrong_query"]]
    budget = max(int(b) for b in images[0]["offline_broken"])
    kept_offline = sum(not image["offline_broken"][str(budget)] for image in images)
    print(f"{sys.argv[1]}: {len(images)} images, {len(lost)} lost online by {budget} queries; "
          f"robust at {budget}: {len(images) - len(lost)} online, {kept_offline} offline")
    for query in (2, 10, 50, 200, 1000, budget):
        count = sum(image["first_wrong_query"] <= query for image in lost)
        print(f"  lost by query {query}: {count}")
    draws = sorted(image["first_wrong_query"] for image in lost
                   if not image["offline_broken"][str(budget)])
    median = draws[len(draws) // 2] if draws else "–"
    print(f"  lost online but the final candidate is not adversarial offline: {len(draws)} "
          f"(median first wrong answer at query {median}); broken by both rules: "
          f"{len(lost) - len(draws)}")


if __name__ == "__main__":
    main()
