#!/usr/bin/env bash
# Runs the grid of an experiment file with a runner of target/release ($1: classification or
# segmentation; $2: the experiment file; further arguments go to the runner) in SHARDS one-thread
# processes, each taking every SHARDS-th run, then collects summary.csv from the run folders.
# Why shards: libtorch's OpenMP threads spin-wait, so one two-thread process slows down many-fold as
# soon as anything else uses a core, while N one-thread processes keep N cores busy; results are
# identical. Every shard goes on past a failed run; this script fails if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
runner=./target/release/$1
config=$2
shift 2
shards=${SHARDS:-$(nproc)}
pids=()
for k in $(seq 0 $((shards - 1))); do
  OMP_NUM_THREADS=1 "$runner" --config "$config" --shard "$k/$shards" --threads 1 --no-collect "$@" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
"$runner" --config "$config" --collect "$@"
[ $status -eq 0 ] || echo "run_grid: some runs of $config failed (see above)" >&2
exit $status
