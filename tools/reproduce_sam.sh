#!/usr/bin/env bash
# `make reproduce-sam`: segmentation with LoRA, Serial LoRA, LoRA+ and Serial LoRA+, then Figure 3
# (spectra of the merged encoder qkv weights) and Figure 4 (qualitative masks).
#   default:                 LiteMedSAM (packaged, .cache/models/lite-medsam) on the stardist nuclei
#                            image, experiments/segmentation_litemedsam.toml
#   SAM_WEIGHTS=DIR SAM_DATA=FOLDER:
#                            transformers SamModel weights (config.json + model.safetensors) on a
#                            folder holding images/ and masks/, experiments/segmentation_sam.toml
# Runs: every method at rank 8 with seeds 1 and 2, plus LoRA and Serial LoRA at ranks 4 and 32
# (seed 1), in parallel single-thread shards. Finished runs are skipped and interrupted ones resume.
set -euo pipefail
cd "$(dirname "$0")/.."
SEG=(cargo run --release -q -p segmentation --)
if [ -n "${SAM_WEIGHTS:-}" ]; then
  : "${SAM_DATA:?set SAM_DATA to a folder holding images/ and masks/}"
  CFG=experiments/segmentation_sam.toml BACKBONE=sam
  ARGS=(--model-dir "$SAM_WEIGHTS" --dataset "folder:$SAM_DATA" --backbone "$BACKBONE")
  DATASET=folder_$(echo "folder:$SAM_DATA" | sed 's/^folder://; s/[^A-Za-z0-9-]/_/g')
else
  CFG=experiments/segmentation_litemedsam.toml BACKBONE=litemedsam DATASET=stardist ARGS=()
  [ -f .cache/models/lite-medsam/model.safetensors ] || { echo "reproduce-sam: run 'make setup' first" >&2; exit 1; }
  echo "reproduce-sam: no SAM_WEIGHTS: LiteMedSAM on the stardist nuclei image (the packaged default)"
fi
# The grid as method:rank:seed, run by SHARDS single-thread processes (libtorch's OpenMP threads
# spin-wait, so N one-thread processes use N cores far better than one N-thread process; results are
# identical). Each process takes every SHARDS-th run; they share summary.csv under its lock.
specs=(lora:8:1 serial_lora:8:1 lora_plus:8:1 serial_lora_plus:8:1 lora:8:2 serial_lora:8:2 lora_plus:8:2
  serial_lora_plus:8:2 lora:4:1 serial_lora:4:1 lora:32:1 serial_lora:32:1)
shards=${SHARDS:-$(nproc)}
"${SEG[@]}" --help >/dev/null  # builds the runner once, before the shards start
run_shard() {
  for ((i = $1; i < ${#specs[@]}; i += shards)); do
    IFS=: read -r method rank seed <<<"${specs[$i]}"
    OMP_NUM_THREADS=1 ./target/release/segmentation --config "$CFG" "${ARGS[@]}" \
      --method "$method" --rank "$rank" --seed "$seed" || return 1
  done
}
pids=()
for k in $(seq 0 $((shards - 1))); do
  run_shard "$k" &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid" || { echo "reproduce-sam: a run failed" >&2; exit 1; }
done
run() { echo "results/segmentation/${BACKBONE}_${DATASET//:/_}_$1_r8_seed1"; }
cargo run --release -q -p analysis -- svd \
  --runs "$(run lora)" "$(run serial_lora)" "$(run lora_plus)" "$(run serial_lora_plus)"
"${SEG[@]}" figure --runs "$(run lora)" "$(run serial_lora)" --out figures/fig4_segmentation.png
echo "reproduce-sam: results/segmentation/summary.csv, figures/fig3_${BACKBONE}.png, figures/fig4_segmentation.png"
