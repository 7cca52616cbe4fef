#!/usr/bin/env bash
# A newcomer's sequence in a temporary copy of the repository (the tracked and unignored files, as a
# fresh clone has them), with this checkout's installed environment (.venv, .libtorch, .cache) and
# built binaries (target/) linked in so nothing is downloaded or compiled again:
#   1. before any run: `analysis svd` and `analysis rank-sweep` render from the committed reference;
#   2. `make reproduce-clip QUICK=1`: the QUICK grid, tables, figures and the comparison with the
#      committed reference, which must show every cell reproduced: exactly on the reference's own
#      numerics signature, within the measured numerical noise on another (analysis compare);
#   3. every promised file exists and is readable;
#   4. `make reproduce-gen QUICK=1`: the generation QUICK grid, its figures and the comparison;
#   5. with SERIAL_LORA_DATA (real data sets), `make reproduce-clip QUICK=1 CIFAR10=…` and
#      `make reproduce-sam QUICK=1 CAMVID=…`, compared the same way;
#   6. the README's own-data example as written, on a generated class-per-folder set;
#   7. the guide's predict example (docs/using-runs.md) on that run: its accuracy on the test
#      images is the run's;
#   8. the guide's merge, segmentation predict and generation sample examples, as written.
# Run by `make test` after the Rust tests (which build the binaries).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && cp --parents -- "$f" "$tmp/"
done
for link in .venv .libtorch .cache target; do ln -s "$repo/$link" "$tmp/$link"; done
cd "$tmp"
fail() { echo "test-newcomer: $*" >&2; exit 1; }
need() { for f in "$@"; do [ -s "$f" ] || fail "missing or empty: $f"; done; }
# Every cell of backbone $1 in results/comparison/$2.csv reproduces the reference ($3 names them):
# exactly where both sides computed under the same numerics signature (same machine kind and
# settings), else within the measured band of numerical noise (verdict `reproduced`); and the
# learning-rate selection (results/comparison/$2_selection.csv, when the grid selects) chose the
# same values, or on other numerics values whose validation scores are within the band. Says which
# check it made.
reproduces() {
  local table=results/comparison/$2.csv selection=results/comparison/$2_selection.csv
  local cells same good choices fine
  cells=$(awk -F, -v b="$1" 'NR > 1 && $1 == b' "$table" | wc -l)
  same=$(awk -F, -v b="$1" 'NR > 1 && $1 == b && $(NF-2) == "true"' "$table" | wc -l)
  [ "$cells" -gt 0 ] || fail "$table has no $3 cell"
  if [ "$same" -eq "$cells" ]; then
    good=$(awk -F, -v b="$1" 'NR > 1 && $1 == b && $NF == "exact"' "$table" | wc -l)
    echo "test-newcomer: same numerics as the reference: $good of $cells $3 cells reproduce it exactly"
    want_choice='same_choice'
  else
    good=$(awk -F, -v b="$1" 'NR > 1 && $1 == b && ($NF == "exact" || $NF == "reproduced")' "$table" | wc -l)
    echo "test-newcomer: other numerics than the reference: $good of $cells $3 cells reproduce it within the measured numerical noise"
    want_choice='same_choice|equivalent_choice'
  fi
  [ "$good" -eq "$cells" ] || fail "see $table"
  if [ -s "$selection" ]; then
    choices=$(awk -F, -v b="$1" 'NR > 1 && $1 == b' "$selection" | wc -l)
    fine=$(awk -F, -v b="$1" -v want="^($want_choice)\$" 'NR > 1 && $1 == b && $NF ~ want' "$selection" | wc -l)
    echo "test-newcomer: $fine of $choices $3 learning-rate choices agree with the reference's ($want_choice)"
    [ "$fine" -eq "$choices" ] || fail "see $selection"
  fi
  if [ "$same" -eq "$cells" ] && [ -f "results/$2/lr_selection.csv" ]; then
    # Same numerics: the selection table itself, every candidate's score, byte for byte (but for
    # the empty `steps` field the table has when another experiment's rows carry a schedule).
    cmp <(grep "^$1," "results/$2/lr_selection.csv" | sed 's/,$//' | sort) \
      <(grep "^$1," "results/reference/$2/lr_selection.csv" | sed 's/,$//' | sort) ||
      fail "the $3 learning-rate selection differs from the reference's on the same numerics"
  fi
}

echo "test-newcomer: 0. no committed result or experiment file holds a machine's absolute path"
if grep -rlE '"(/home|/root|/work|/tmp|/Users|/mnt|/data)/' results experiments figures 2>/dev/null; then
  fail "the files above hold absolute paths (store them relative to the repository root)"
fi

echo "test-newcomer: 1. analysis before any run (copy in $tmp)"
rm -rf results/classification results/segmentation figures/fig3_* results/spectra
./target/release/analysis svd
./target/release/analysis rank-sweep
need figures/fig3_dinov2-s14-quick.png results/spectra/dinov2-s14-quick.csv \
  results/rank_sweep/dinov2-s14.csv figures/fig5_dinov2-s14.png
# Rendered from the reference, the spectra are the committed files, byte for byte.
for f in "$repo"/results/spectra/*.csv; do
  cmp -s "$f" "results/spectra/$(basename "$f")" || fail "analysis svd does not reproduce results/spectra/$(basename "$f")"
done

echo "test-newcomer: 2. make reproduce-clip QUICK=1"
start=$(date +%s)
make --no-print-directory reproduce-clip QUICK=1 CARGO=true
echo "test-newcomer: reproduce-clip QUICK=1 took $(($(date +%s) - start)) s"

echo "test-newcomer: 3. the promised files"
need results/classification/summary.csv results/params.csv results/comparison/classification.csv \
  results/rank_sweep/dinov2-s14-quick.csv figures/fig5_dinov2-s14-quick.png \
  results/spectra/dinov2-s14-quick.csv figures/fig3_dinov2-s14-quick.png \
  results/classification/lr_selection.csv results/classification/selection/summary.csv \
  results/classification/report/table.csv results/classification/report/paired.csv \
  results/classification/report/selected.csv figures/loss_dinov2-s14-quick.png
grep -q '"evaluated_on": "validation"' "$(ls -d results/classification/selection/*/ | head -1)summary.json" ||
  fail "a selection run was not scored on the validation split"
runs=$(./target/release/classification --config experiments/dinov2_packaged_quick.toml --list | wc -l)
rows=$(($(wc -l < results/classification/summary.csv) - 1))
[ "$rows" -eq "$runs" ] || fail "summary.csv has $rows rows for $runs runs"
for run in $(./target/release/classification --config experiments/dinov2_packaged_quick.toml --list); do
  need "$run/config.json" "$run/summary.json" "$run/metrics.csv" "$run/fewshot.json"
  grep -q '"model_dir": ".cache/models/' "$run/config.json" || fail "$run/config.json: model_dir is not repository-relative"
done
# Same seeds: every QUICK cell and learning-rate choice reproduces the reference.
reproduces dinov2-s14-quick classification QUICK
for run in $(./target/release/classification --config experiments/dinov2_packaged_quick.toml --list); do
  need "$run/numerics.json"
done

echo "test-newcomer: 4. make reproduce-gen QUICK=1"
rm -rf results/generation
start=$(date +%s)
make --no-print-directory reproduce-gen QUICK=1 CARGO=true
echo "test-newcomer: reproduce-gen QUICK=1 took $(($(date +%s) - start)) s"
need results/generation/summary.csv results/generation/lr_selection.csv results/comparison/generation.csv \
  results/generation/report/table.csv figures/fig4_generation_quick.png \
  figures/fig5_tiny-mmdit-fashion-quick.png figures/fig3_tiny-mmdit-fashion-quick.png \
  figures/loss_tiny-mmdit-fashion-quick.png
reproduces tiny-mmdit-fashion-quick generation "QUICK generation"
echo "test-newcomer: 5. make reproduce-clip QUICK=1 CIFAR10=… (real data, when given)"
# SERIAL_LORA_DATA: the folder of real data sets (.ci/run sets it to ../shared/data when present).
if [ -n "${SERIAL_LORA_DATA:-}" ] && [ -d "$SERIAL_LORA_DATA/cifar10" ]; then
  start=$(date +%s)
  make --no-print-directory reproduce-clip QUICK=1 CIFAR10="$SERIAL_LORA_DATA/cifar10" CARGO=true
  echo "test-newcomer: reproduce-clip QUICK=1 CIFAR10=… took $(($(date +%s) - start)) s"
  need figures/fig5_dinov2-s14-cifar10-quick.png figures/loss_dinov2-s14-cifar10-quick.png \
    results/rank_sweep/dinov2-s14-cifar10-quick.csv
  if grep -rl "$SERIAL_LORA_DATA" results/classification figures results/comparison; then
    fail "the files above hold the data path"
  fi
  reproduces dinov2-s14-cifar10-quick classification "QUICK CIFAR-10"
else
  echo "test-newcomer: skipping the CIFAR-10 QUICK grid: SERIAL_LORA_DATA is not set or has no cifar10/ (.ci/run sets it when ../shared/data exists)"
fi
echo "test-newcomer: 5b. make reproduce-sam QUICK=1 CAMVID=… (real data, when given)"
if [ -n "${SERIAL_LORA_DATA:-}" ] && [ -d "$SERIAL_LORA_DATA/camvid" ]; then
  rm -rf results/segmentation
  start=$(date +%s)
  make --no-print-directory reproduce-sam QUICK=1 CAMVID="$SERIAL_LORA_DATA" CARGO=true
  echo "test-newcomer: reproduce-sam QUICK=1 CAMVID=… took $(($(date +%s) - start)) s"
  need figures/fig4_segmentation_camvid_quick.png figures/loss_litemedsam-camvid-quick.png \
    figures/fig3_litemedsam-camvid-quick.png results/segmentation/report/classes.csv \
    results/segmentation/report/paired_iou.csv results/comparison/segmentation.csv
  if grep -rl "$SERIAL_LORA_DATA" results/segmentation figures results/comparison; then
    fail "the files above hold the data path"
  fi
  reproduces litemedsam-camvid-quick segmentation "QUICK CamVid"
else
  echo "test-newcomer: skipping the CamVid QUICK grid: SERIAL_LORA_DATA is not set or has no camvid/ (.ci/run sets it when ../shared/data exists)"
fi
echo "test-newcomer: 6. the README's own-data example, as written, on a small class-per-folder set"
own=$tmp/own-data
.venv/bin/python - "$own" <<'PY'
import sys, pathlib
import numpy as np
from PIL import Image
root, rng = pathlib.Path(sys.argv[1]), np.random.default_rng(0)
for label, name in enumerate(["disc", "stripes"]):
    for split, n in [("train", 16), ("test", 4)]:
        (root / split / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            y, x = np.mgrid[:28, :28]
            shape = (x - 14) ** 2 + (y - 14) ** 2 < 60 if label == 0 else (x // 4) % 2 == 0
            pixels = shape * 200 + rng.integers(0, 40, (28, 28))
            Image.fromarray(pixels.astype("uint8")).save(root / split / name / f"{i}.png")
PY
example=$(grep -m1 -- '--dataset folder:DIR --method' README.md) || fail "the README has no own-data example"
eval "${example//DIR/$own}"
run=$(./target/release/classification --config experiments/dinov2_packaged_quick.toml --dataset folder:"$own" --method serial_lora --rank 8 --list)
need "$run/summary.json" "$run/config.json"
methods=$(grep ",folder_\|,folder:" results/classification/lr_selection.csv | cut -d, -f3 | sort -u)
[ "$methods" = "serial_lora" ] || fail "the own-data example selected for: $methods (want serial_lora only)"
echo "test-newcomer: 7. the guide's predict example, as written, on the same run"
while IFS= read -r line; do
  eval "${line//DIR/$own}"
done < <(sed -n "/^# after the README's own-data example/,/^\`\`\`/p" docs/using-runs.md | grep -v '^#\|^```')
[ "$run" = "$(./target/release/classification --config experiments/dinov2_packaged_quick.toml --dataset folder:"$own" --method serial_lora --rank 8 --list)" ] || fail "--list names another run"
accuracy=$(jq -r .accuracy "$run/summary.json" 2>/dev/null || grep -o '"accuracy": [0-9.]*' "$run/summary.json" | grep -o '[0-9.]*$')
[ "$(($(wc -l < predictions.csv) - 1))" -eq 8 ] || fail "predictions.csv: want 8 rows"
correct=$(awk -F, 'NR > 1 && $2 == $NF' predictions.csv | wc -l)
python3 -c "import sys; sys.exit(0 if abs($correct / 8 - $accuracy) < 1e-9 else 1)" ||
  fail "predict's accuracy $correct/8 differs from the run's $accuracy"
echo "test-newcomer: 8. the guide's merge, segment and sample examples, as written"
# Every line of an example block of the guide's page on using runs that starts with the given
# comment, run as written.
readme_example() {
  sed -n "/^$1/,/^\`\`\`/p" docs/using-runs.md | grep -v '^#\|^```\|DIR' | grep . ||
    fail "docs/using-runs.md has no example starting with: $1"
}
while IFS= read -r line; do eval "$line"; done < <(readme_example '# after make reproduce-clip QUICK=1: the Serial LoRA run')
need results/exports/dinov2-serial/config.json results/exports/dinov2-serial/model.safetensors
while IFS= read -r line; do eval "$line"; done < <(readme_example '# a committed box-prompted run segments')
need results/predicted/img2d_labels.png results/predicted/img2d_overlay.png
.venv/bin/python -c "
import numpy as np; from PIL import Image
labels = set(np.unique(np.array(Image.open('results/predicted/img2d_labels.png'))))
assert labels <= {0, 1, 2} and {1, 2} <= labels, labels" || fail "img2d_labels.png should label both boxes"
if [ -n "${SERIAL_LORA_DATA:-}" ] && [ -d "$SERIAL_LORA_DATA/camvid" ]; then
  example=$(sed -n '/^# after make reproduce-sam QUICK=1 CAMVID=DIR/,/^```/p' docs/using-runs.md | grep -v '^#\|^```' | grep .) ||
    fail "docs/using-runs.md has no CamVid predict example"
  eval "${example//DIR/$SERIAL_LORA_DATA}"
  need results/predicted-camvid/0001TP_008550_labels.png results/predicted-camvid/0001TP_008550_overlay.png
  .venv/bin/python -c "
import numpy as np; from PIL import Image
labels = np.array(Image.open('results/predicted-camvid/0001TP_008550_labels.png'))
assert labels.shape == (360, 480) and labels.max() <= 10 and len(np.unique(labels)) >= 4, labels.shape" ||
    fail "the CamVid label map should be 480x360 with several classes"
else
  echo "test-newcomer: skipping the guide's CamVid predict example: SERIAL_LORA_DATA has no camvid/"
fi
while IFS= read -r line; do eval "$line"; done < <(readme_example '# after make reproduce-gen QUICK=1: the Serial LoRA run')
need results/samples/sks-boot/grid.png results/samples/sks-boot/sample_0.png results/samples/sks-boot/sample_7.png
echo "test-newcomer: PASS"
