#!/usr/bin/env bash
# Runs the classification grid of experiment file $1 (extra arguments go to the runner) in SHARDS
# single-threaded processes, each taking every SHARDS-th run; fails if any shard fails.
# Why: libtorch's OpenMP threads spin-wait, so one two-thread process slows down many-fold as soon as
# anything else uses a core, while N one-thread processes keep N cores busy. Results are identical.
set -euo pipefail
cd "$(dirname "$0")/.."
config=$1
shift
shards=${SHARDS:-$(nproc)}
pids=()
for k in $(seq 0 $((shards - 1))); do
  OMP_NUM_THREADS=1 ./target/release/classification --config "$config" --shard "$k/$shards" "$@" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
exit $status
