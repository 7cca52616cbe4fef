#!/usr/bin/env bash
# Side by side on the CLIP ViT-B/16 vision tower: ours (cargo bench -p zoo --bench vit_b16) vs
# transformers + peft (tools/bench/vit_b16_peft.py), LoRA q,k,v,o and Serial LoRA at rank 8:
# one training step, and inference base vs merged. Every case runs in its own process, so its
# peak RSS (VmHWM) is its own. Writes, each atomically (temp file + mv):
#   $BENCH_OUT/vit_b16.csv         impl,method,rank,median_step_ms,images_per_s,peak_rss_mb
#   $BENCH_OUT/vit_b16_ratios.csv  method,case,ratio_ours_to_peft (of median_step_ms)
# Environment: BENCH_OUT (default results/bench), BENCH_THREADS (torch threads on both sides,
# default: nproc), BENCH_TINY=1 (2 blocks of width 64 at 32 px, 2 timed iterations: a check only),
# CARGO (default cargo).
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO=${CARGO:-cargo}
PY=.venv/bin/python
OUT=${BENCH_OUT:-results/bench}
export BENCH_THREADS=${BENCH_THREADS:-$(nproc)}
export BENCH_TINY=${BENCH_TINY:-}
CASES=(train:lora train:serial_lora infer:base infer:lora_merged infer:serial_lora_merged)

mkdir -p "$OUT"
lines=$(mktemp "$OUT/.vit_b16.jsonl.XXXXXX")
trap 'rm -f "$lines" "$OUT"/.vit_b16*.csv.tmp.*' EXIT

"$CARGO" bench -p zoo --bench vit_b16 --no-run
for case in "${CASES[@]}"; do
    "$CARGO" bench -q -p zoo --bench vit_b16 -- "$case" | tee -a "$lines"
    "$PY" tools/bench/vit_b16_peft.py "$case" | tee -a "$lines"
done

"$PY" - "$lines" "$OUT" <<'EOF'
import csv, json, os, sys

lines, out = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(lines) if line.startswith("{")]
by_key = {(r["impl"], r["case"], r["method"]): r for r in rows}


def write(name, header, table):
    path = os.path.join(out, name)
    tmp = f"{os.path.join(out, '.' + name)}.tmp.{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(table)
    os.replace(tmp, path)
    print(f"wrote {path}")
    print(open(path).read(), end="")


cols = ["median_step_ms", "images_per_s", "peak_rss_mb"]
write(
    "vit_b16.csv",
    ["impl", "method", "rank"] + cols,
    [[r["impl"], r["method"], r["rank"]] + [f"{r[c]:.3f}" for c in cols] for r in rows],
)
ratios = []
for (impl, case, method), ours in by_key.items():
    peft = by_key.get(("peft", case, method))
    if impl == "ours" and peft:
        ratios.append([method, case, f"{ours['median_step_ms'] / peft['median_step_ms']:.3f}"])
write("vit_b16_ratios.csv", ["method", "case", "ratio_ours_to_peft"], ratios)
EOF
