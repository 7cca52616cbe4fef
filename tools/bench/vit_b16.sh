#!/usr/bin/env bash
# Side by side on the CLIP ViT-B/16 vision tower, in one run on one machine: ours (cargo bench -p
# zoo --bench vit_b16) vs transformers + peft (tools/bench/vit_b16_peft.py), LoRA q,k,v,o and
# Serial LoRA at rank 8, batch 8, 224 px, in fp32 and bf16 (ours: autocast with the frozen matrices
# stored in bf16; peft: torch.autocast): one training step, and inference base vs merged. Every
# case runs in its own process, so its peak RSS is its own, and the two sides alternate. Then the GEMM peak of each precision,
# one profiled training step per (impl, precision, method), and our step time against batch
# (1, 8, 32 at 224 px) and image size (56, 112, 224 px at batch 8).
#
# Writes into $BENCH_OUT (tools/bench/vit_b16_tables.py: vit_b16.csv, vit_b16_ratios.csv,
# vit_b16_targets.csv, vit_b16_profile.csv, vit_b16_scaling.csv, each atomically) and
# $BENCH_FIGURES/bench_scaling.png (analysis bench-scaling). With BENCH_DEVICE=cuda[:N] both sides
# run on that GPU (default batch 32) and the tables are named vit_b16_gpu*.csv (no scaling sweep).
# Environment: BENCH_OUT (default results/bench; analysis reads <its parent>/bench), BENCH_FIGURES (default figures), BENCH_THREADS
# (torch threads on both sides, default: nproc), BENCH_ROUNDS (how many times each side-by-side
# case runs, alternating ours and peft, default 3; the tables keep the median), BENCH_TINY=1 (2 blocks of width 64 at 32 px, 2
# timed iterations, tiny scaling sizes: a check only), CARGO (default cargo).
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO=${CARGO:-cargo}
PY=.venv/bin/python
OUT=${BENCH_OUT:-results/bench}
FIGURES=${BENCH_FIGURES:-figures}
export BENCH_THREADS=${BENCH_THREADS:-$(nproc)}
export BENCH_TINY=${BENCH_TINY:-}
ROUNDS=${BENCH_ROUNDS:-3}
export BENCH_DEVICE=${BENCH_DEVICE:-cpu}
NAME=vit_b16
if [ "$BENCH_DEVICE" != cpu ]; then
  NAME=vit_b16_gpu
  export BENCH_BATCH=${BENCH_BATCH:-32}
fi
CASES=(train:lora train:serial_lora infer:base infer:lora_merged infer:serial_lora_merged)
PROFILES=(profile:lora profile:serial_lora)
if [ -n "$BENCH_TINY" ]; then
  BATCHES=(1 8) SIZES=(112 224) SCALE_BATCH=8 SCALE_SIZE=224
else
  BATCHES=(1 8 32) SIZES=(56 112 224) SCALE_BATCH=8 SCALE_SIZE=224
fi

mkdir -p "$OUT" "$FIGURES"
lines=$(mktemp "$OUT/.vit_b16.jsonl.XXXXXX")
trap 'rm -f "$lines" "$lines.scaling"' EXIT

"$CARGO" bench -p zoo --bench vit_b16 --no-run
"$CARGO" build --release -p analysis
ours() { "$CARGO" bench -q -p zoo --bench vit_b16 -- "$@"; }
peft() { "$PY" tools/bench/vit_b16_peft.py "$@"; }

for precision in fp32 bf16; do
  export BENCH_PRECISION=$precision
  # Ours and peft alternate, ROUNDS times over: the tables take the median of the rounds, so a
  # slow minute of a shared machine does not decide a ratio.
  for _ in $(seq "$ROUNDS"); do
    for case in "${CASES[@]}"; do
      ours "$case" | tee -a "$lines"
      peft "$case" | tee -a "$lines"
    done
  done
  ours gemm | tee -a "$lines"
  for case in "${PROFILES[@]}"; do
    ours "$case" >> "$lines"
    peft "$case" >> "$lines"
  done
done

export BENCH_PRECISION=fp32
[ "$BENCH_DEVICE" = cpu ] || BATCHES=()
for batch in "${BATCHES[@]}"; do
  for size in "${SIZES[@]}"; do
    [ "$batch" = "$SCALE_BATCH" ] || [ "$size" = "$SCALE_SIZE" ] || continue
    BENCH_BATCH=$batch BENCH_IMAGE=$size ours train:lora train:serial_lora infer:base |
      tee -a "$lines.scaling"
  done
done

"$PY" tools/bench/vit_b16_tables.py "$lines" "$OUT" "$NAME"
if [ "$BENCH_DEVICE" = cpu ]; then
  ./target/release/analysis bench-scaling --results "$(dirname "$OUT")" --figures "$FIGURES"
fi
