#!/usr/bin/env bash
# What `--numerics` costs on this machine: the QUICK classification grid (selection and grid, the
# way `make reproduce-clip QUICK=1` runs it: one-thread shards on every core) and one DINOv2-S +
# Serial LoRA forward pass (4 images at 112 px, one thread), under each numerics mode, one after
# another on an otherwise idle machine. Writes $OUT/numerics_cost.csv (default results/bench)
# atomically: cpu, mode, what, seconds (the grid: once; the forward pass: the median of 5).
# Needs the release binaries (make test or cargo build --release) and make setup's models.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${BENCH_OUT:-results/bench}
BIN=./target/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cpu=$($BIN/zoo info | sed -n 's/^cpu: //p')
rows=$work/rows.csv
echo "cpu,mode,what,seconds" >"$rows"
seconds_since() { awk -v ns=$(($(date +%s%N) - $1)) 'BEGIN { printf "%.3f", ns / 1e9 }'; }
row() { printf '"%s",%s,"%s",%s\n' "$cpu" "$1" "$2" "$3" >>"$rows"; }

# A fixed input: 4 images at 112 px of seeded noise, and the Serial LoRA r8 adapter of the
# committed CIFAR-10 QUICK reference.
.venv/bin/python - "$work/inputs.safetensors" <<'PY'
import sys, numpy as np
from safetensors.numpy import save_file
rng = np.random.default_rng(0)
save_file({"pixel_values": rng.standard_normal((4, 3, 112, 112)).astype("float32")}, sys.argv[1])
PY
adapter=results/reference/classification/dinov2-s14-cifar10-quick_cifar10_16shot_serial_lora_r8_seed1

for mode in native avx2 portable; do
  start=$(date +%s%N)
  bash tools/run_grid.sh classification experiments/dinov2_packaged_quick.toml \
    --results "$work/$mode" --numerics "$mode" >"$work/$mode.log" 2>&1
  grid=$(seconds_since "$start")
  row "$mode" "QUICK classification grid (selection + grid; $(nproc) one-thread shards)" "$grid"
  times=()
  for _ in 1 2 3 4 5; do
    s=$(date +%s%N)
    $BIN/zoo forward --threads 1 --numerics "$mode" --model .cache/models/dinov2-small-imgfocus \
      --adapter "$adapter" --inputs "$work/inputs.safetensors" --out "$work/out.safetensors"
    times+=("$(seconds_since "$s")")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
  row "$mode" "zoo forward DINOv2-S + Serial LoRA r8 (4 x 112 px; one thread; median of 5)" "$median"
done
mkdir -p "$OUT"
cp "$rows" "$OUT/.numerics_cost.csv.tmp"
mv "$OUT/.numerics_cost.csv.tmp" "$OUT/numerics_cost.csv"
cat "$OUT/numerics_cost.csv"
