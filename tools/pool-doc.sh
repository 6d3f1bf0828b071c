#!/usr/bin/env bash
# tools/pool-doc.sh DATASET RUN_DIR WEIGHTS OUT: a pool's document from its own run and commands.
# The header (mixes, architectures, recipe) is read from the members' provenance.
# DIVERSITY_IMAGES (default 500): held-out images for ν; 224-pixel pools need far fewer.
# DIVERSITY_CONFIDENCE (default 0.9): the confidence a held-out crop needs (the pool's --confidence).
set -euo pipefail
if [ $# -ne 4 ]; then echo "usage: tools/pool-doc.sh DATASET RUN_DIR WEIGHTS OUT" >&2; exit 2; fi
D=$1; RUN=$2; W=$3; OUT=$4
B=${BIN:-.venv/bin}
for path in "$RUN/pool.jsonl" "$W"; do
  [ -e "$path" ] || { echo "error: $path does not exist" >&2; exit 2; }
done
TMP=$(mktemp "$OUT.XXXXXX")
trap 'rm -f "$TMP"' EXIT
{
$B/python - "$D" "$RUN" "$W" <<'PY'
import os
import sys
from pathlib import Path

from matt.formats.weights import load_weights

dataset, run, weights_path = sys.argv[1:]
weights = load_weights(Path(weights_path))
members = [member.name for member in weights.pool]
provenance = [member.provenance for member in weights.pool]
trained = sorted(path.parent.name for path in Path(run, "members").glob("*/purifier.pt"))
left_out = [name for name in trained if name not in members]
mixes = sorted({p["mix"]["name"] for p in provenance})
archs = sorted({name.rsplit("-", 1)[1] for name in members})
recipe = provenance[0]["training"]
steps = sorted({p["steps_done"] for p in provenance})
print(f"# The `{dataset}` purifier pool (`{weights_path}`)\n")
print(f"{len(members)} purifiers: {len(mixes)} training-pair mixes ({', '.join(f'`{m}`' for m in mixes)};"
      f" see `docs/training.md` § Purifier pools) × {len(archs)} architectures"
      f" ({', '.join(f'`{a}`' for a in archs)}), λ = {recipe['clean_weight']:g},"
      f" β = {recipe.get('logit_weight', 0):g}, at most {recipe['steps']} steps with a plateau"
      f" stop (patience {recipe['patience']} checks of {recipe['checkpoint_every']} steps;"
      f" steps done: {steps[0]}–{steps[-1]}). Tiling: patch {weights.tiling.patch},"
      f" halo {weights.tiling.halo}.")
starts = [p["initialised_from"] for p in provenance if "initialised_from" in p]
if starts:
    before = sorted({start["steps_done"] for start in starts})
    print(f"\nFine-tuned (`--init-dir`): each member started from its same-named member of"
          f" `{Path(starts[0]['member']).parent.parent}` ({before[0]}–{before[-1]} steps done"
          f" there), so it has seen {before[0] + steps[0]}–{before[-1] + steps[-1]} steps in all.")
if left_out:
    print(f"\nTrained in `{run}` but not in this file (the table below shows them too):"
          f" {', '.join(f'`{name}`' for name in left_out)}.")
print(f"\nData: {provenance[0]['data']}\n")
print("## Commands\n\n```sh")
print(f"matt-train extract-classifier matt/assets/weights/{dataset}.pt -o runs/classifier-{dataset}/classifier.pt   # the unchanged classifier")
print(provenance[0]["command"] + "   # once per core, on the same --run-dir")
chosen = f" --members {','.join(members)}" if left_out else ""
print(f"matt-train bundle --classifier runs/classifier-{dataset}/classifier.pt --pool-dir {run}"
      f"{chosen} --patch {weights.tiling.patch} --halo {weights.tiling.halo} -o {weights_path}")
print(f"matt-train table {run}\nmatt-train diversity {weights_path} --eval-count {os.environ.get('DIVERSITY_IMAGES', '500')} --confidence {os.environ.get('DIVERSITY_CONFIDENCE', '0.9')} --threads 1")
print(f"matt-train curves {run} -o docs/pool-{dataset}-curves.png")
print("```")
PY
echo "Made on this 2-core CPU machine (no GPU), revision $(git rev-parse --short HEAD), $(date -u +%F)."
echo
echo '## Held-out metrics per member (`matt-train table`)'
echo
echo 'Accuracy: the classifier after the member purified held-out images perturbed by each family'
echo 'against the bare classifier (white-box ones and traces crafted against the classifier alone,'
echo 'not through the purifier); the `classifier-alone` row has no purifier. CPU s: one core,'
echo 'training and evaluation.'
echo
$B/matt-train table "$RUN"
echo
echo '## Diversity (`matt-train diversity`)'
echo
echo 'ν(i, j): mean |m_i(x) − m_j(x)| over held-out images, in [0, 1] pixel units.'
echo
$B/matt-train diversity "$W" --eval-count "${DIVERSITY_IMAGES:-500}" --confidence "${DIVERSITY_CONFIDENCE:-0.9}" --threads 1 | tail -n +2
} > "$TMP"
mv "$TMP" "$OUT"
trap - EXIT
