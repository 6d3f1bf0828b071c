#!/bin/bash
# issue 12: the served default (make serve = matt-serve, shipped cifar10) attacked over HTTP, the cifar10 set.
cd "$(dirname "$0")/.." && mkdir -p runs/logs
.venv/bin/matt-serve > runs/logs/served6-server.log 2>&1 &
server=$!
for i in $(seq 60); do grep -q "matt-serve: ready" runs/logs/served6-server.log && break; sleep 1; done
OMP_NUM_THREADS=1 .venv/bin/matt-eval --bundle cifar10 --url 127.0.0.1:8000 --profile paper --defenses remote \
  --n-images 80 --chunk 80 --budgets 10,200,2500 --k-images 0 --patch-images 0 --seed 0 \
  --time-limit 45 --threads 1 --attacks square:p_init=0.05 \
  -o docs/results/cifar10-served-square-p005 --checkpoints docs/results/cifar10-served-square-p005/checkpoints \
  > runs/logs/served6-eval.log 2>&1
echo "eval exit $?" >> runs/logs/served6-eval.log
kill -TERM $server; wait $server
