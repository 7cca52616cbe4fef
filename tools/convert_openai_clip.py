"""Converts an OpenAI CLIP checkpoint (the original `clip` package layout) to a transformers directory.

Usage: .venv/bin/python tools/convert_openai_clip.py CHECKPOINT OUT_DIR
  CHECKPOINT: a state dict saved as .safetensors, or a `torch.save` file (read with weights_only=True;
  OpenAI's TorchScript archives: load them once with `torch.jit.load(...).state_dict()` and save that).
Writes OUT_DIR/config.json (model_type "clip", sizes read off the tensors) and OUT_DIR/model.safetensors
with transformers' `CLIPModel` names, which `zoo` loads. The fused attention `in_proj_weight` [3d, d] is
split into q_proj, k_proj, v_proj; the [d, p] projections are transposed into Linear weights.
`--check` instead runs the self-test: a tiny random transformers CLIPModel is written in OpenAI's layout,
converted back, and every tensor must come back bit-identical.
"""
import json
import pathlib
import re
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from model_dir import load_state, write_model_dir  # noqa: E402

LAYER = {
    "ln_1": "layer_norm1",
    "ln_2": "layer_norm2",
    "attn.out_proj": "self_attn.out_proj",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}
TOP = {
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
    "logit_scale": "logit_scale",
}
TRANSPOSED = {"visual.proj": "visual_projection.weight", "text_projection": "text_projection.weight"}
BLOCK = re.compile(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")


def to_hf(state: dict) -> dict:
    """OpenAI names -> transformers names; raises on any key it does not know."""
    out = {}
    for key, t in state.items():
        if key in TOP:
            out[TOP[key]] = t
        elif key in TRANSPOSED:
            out[TRANSPOSED[key]] = t.t().contiguous()
        elif key in ("input_resolution", "context_length", "vocab_size"):
            continue  # TorchScript metadata, not weights
        elif m := BLOCK.match(key):
            tower = "vision_model" if m.group(1) else "text_model"
            prefix, rest = f"{tower}.encoder.layers.{m.group(2)}", m.group(3)
            if rest.startswith("attn.in_proj_"):
                kind = rest.removeprefix("attn.in_proj_")
                for name, part in zip(("q_proj", "k_proj", "v_proj"), t.chunk(3, dim=0)):
                    out[f"{prefix}.self_attn.{name}.{kind}"] = part.contiguous()
            else:
                module, _, leaf = rest.rpartition(".")
                if module not in LAYER:
                    raise KeyError(f"unknown OpenAI CLIP tensor `{key}`")
                out[f"{prefix}.{LAYER[module]}.{leaf}"] = t
        else:
            raise KeyError(f"unknown OpenAI CLIP tensor `{key}`")
    return out


def config_of(hf: dict) -> dict:
    """A transformers CLIPConfig read off the tensor shapes."""
    def depth(tower):
        return 1 + max(int(k.split(".")[3]) for k in hf if k.startswith(f"{tower}.encoder.layers."))

    v_width = hf["vision_model.embeddings.class_embedding"].shape[0]
    patch = hf["vision_model.embeddings.patch_embedding.weight"].shape[-1]
    grid = int(round((hf["vision_model.embeddings.position_embedding.weight"].shape[0] - 1) ** 0.5))
    t_vocab, t_width = hf["text_model.embeddings.token_embedding.weight"].shape
    return {
        "model_type": "clip",
        "projection_dim": hf["visual_projection.weight"].shape[0],
        "logit_scale_init_value": 2.6592,
        "vision_config": {
            "hidden_size": v_width,
            "intermediate_size": hf["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
            "num_hidden_layers": depth("vision_model"),
            "num_attention_heads": v_width // 64,
            "patch_size": patch,
            "image_size": grid * patch,
            "hidden_act": "quick_gelu",
        },
        "text_config": {
            "hidden_size": t_width,
            "intermediate_size": hf["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
            "num_hidden_layers": depth("text_model"),
            "num_attention_heads": t_width // 64,
            "vocab_size": t_vocab,
            "max_position_embeddings": hf["text_model.embeddings.position_embedding.weight"].shape[0],
            "hidden_act": "quick_gelu",
            "eos_token_id": 2,
            "bos_token_id": 0,
        },
    }


def convert(checkpoint: pathlib.Path, out: pathlib.Path) -> None:
    hf = to_hf(load_state(checkpoint))
    write_model_dir(out, hf, config_of(hf))


def from_hf(hf: dict) -> dict:
    """transformers names -> OpenAI names (the inverse of `to_hf`, for the self-test)."""
    inverse_top = {v: k for k, v in TOP.items()}
    inverse_t = {v: k for k, v in TRANSPOSED.items()}
    inverse_layer = {v: k for k, v in LAYER.items()}
    out, qkv = {}, {}
    for key, t in hf.items():
        if key in inverse_top:
            out[inverse_top[key]] = t
        elif key in inverse_t:
            out[inverse_t[key]] = t.t().contiguous()
        elif key.endswith("position_ids"):
            continue
        else:
            tower, _, _, i, *rest = key.split(".")
            base = f"{'visual.' if tower == 'vision_model' else ''}transformer.resblocks.{i}"
            module, leaf = ".".join(rest[:-1]), rest[-1]
            if module.startswith("self_attn.") and module != "self_attn.out_proj":
                qkv.setdefault((base, leaf), {})[module.split(".")[1]] = t
            else:
                out[f"{base}.{inverse_layer[module]}.{leaf}"] = t
    for (base, leaf), parts in qkv.items():
        out[f"{base}.attn.in_proj_{leaf}"] = torch.cat([parts["q_proj"], parts["k_proj"], parts["v_proj"]])
    return out


def self_test() -> None:
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 1,
                     "vocab_size": 99, "max_position_embeddings": 16},
        vision_config={"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 1,
                       "image_size": 16, "patch_size": 4},
        projection_dim=32,
    )
    reference = {k: v for k, v in CLIPModel(config).state_dict().items() if not k.endswith("position_ids")}
    with tempfile.TemporaryDirectory() as tmp:
        openai = pathlib.Path(tmp) / "openai.safetensors"
        save_file({k: v.contiguous() for k, v in from_hf(reference).items()}, openai)
        convert(openai, pathlib.Path(tmp) / "hf")
        back = load_file(pathlib.Path(tmp) / "hf" / "model.safetensors")
        cfg = json.loads((pathlib.Path(tmp) / "hf" / "config.json").read_text())
    assert set(back) == set(reference), set(back) ^ set(reference)
    for k, v in reference.items():
        assert torch.equal(back[k], v), k
    assert cfg["vision_config"]["num_hidden_layers"] == 2 and cfg["vision_config"]["image_size"] == 16
    print(f"convert_openai_clip self-test: {len(back)} tensors round-trip bit-identically")


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        self_test()
    elif len(sys.argv) == 3:
        convert(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
    else:
        sys.exit(__doc__)
