#!/usr/bin/env bash
# Run one benchmark command as a record: the command, the git revision and `uptime` before and
# after go into benchmarks/results/<name>.log beside the command's own files. At nice 19, one
# thread per library, because trainings share this machine.
#   benchmarks/record.sh NAME matt-bench fused --bundle ... -o benchmarks/results --name NAME
set -euo pipefail
name=$1; shift
log="benchmarks/results/${name}.log"
[[ -e "$log" ]] && { echo "error: $log exists; records are never overwritten" >&2; exit 2; }
{
  echo "command: $*"
  echo "git: $(git rev-parse HEAD)$(git diff --quiet HEAD -- matt || echo ' (uncommitted changes under matt/)')"
  echo "uptime before: $(uptime)"
} > "$log"
OMP_NUM_THREADS=1 nice -n 19 .venv/bin/"$@" >> "$log" 2>&1
echo "uptime after: $(uptime)" >> "$log"
