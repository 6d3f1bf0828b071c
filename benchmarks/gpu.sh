#!/usr/bin/env bash
# The GPU run for a lent CUDA machine (docs/benchmarks.md, "GPU: one script for a lent machine"):
# the gpu tests, then MATT (torch engine, CUDA streams) against K, the classifier alone and
# DISCO official, within an 8-minute budget; one JSON and one Markdown file.
#   benchmarks/gpu.sh -o "$OUT"          # on the lent machine
#   benchmarks/gpu.sh --dry-run -o /tmp/gpu   # the whole flow on the CPU, in seconds
# Needs python3 with torch and numpy; matt is imported from this checkout (PYTHONPATH).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if [[ -x "$repo/.venv/bin/python" && -z "${PYTHON:-}" ]]; then
  python="$repo/.venv/bin/python"
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$python" -m matt.bench.gpu "$@"
