#!/usr/bin/env bash
# Runs the grid of an experiment file with a runner of target/release ($1: classification or
# segmentation; $2: the experiment file; further arguments go to the runner) in SHARDS one-thread
# processes, each taking every SHARDS-th run, then collects summary.csv from the run folders. When
# the file has a [select] section, its learning-rate selection (--select) runs first the same way
# and writes <results>/<task>/lr_selection.csv, which the grid then trains with.
# Why shards: libtorch's OpenMP threads spin-wait, so one two-thread process slows down many-fold as
# soon as anything else uses a core, while N one-thread processes keep N cores busy; results are
# identical. Every shard goes on past a failed run; this script fails if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
runner=./target/release/$1
config=$2
shift 2
shards=${SHARDS:-$(nproc)}
# glibc returns every large freed block to the kernel by default, so each step's activations are
# mapped, zeroed and unmapped again (a fifth of a CPU step spent in the kernel); keeping them in the
# heap changes no number, only the time.
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-1073741824}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-1073741824}

# Runs one stage (the runner's extra flags in "$@") in the shards, then collects it.
stage() {
  local pids=() status=0
  for k in $(seq 0 $((shards - 1))); do
    OMP_NUM_THREADS=1 "$runner" --config "$config" --shard "$k/$shards" --threads 1 --no-collect "$@" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || status=1
  done
  "$runner" --config "$config" --collect "$@" || status=1
  [ $status -eq 0 ] || echo "run_grid: some runs of $config $* failed (see above)" >&2
  return $status
}

if grep -q '^\[select\]' "$config"; then
  echo "run_grid: $config: learning-rate selection first (--select)"
  stage --select "$@"
fi
stage "$@"
