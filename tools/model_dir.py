"""Checkpoint I/O shared by the converters in tools/: read a state dict safely, write a transformers-style
model directory atomically."""
import json
import os
import pathlib

import torch
from safetensors.torch import load_file, save_file


def load_state(checkpoint: pathlib.Path) -> dict:
    """A state dict from .safetensors, or from a `torch.save` file read with weights_only=True."""
    if checkpoint.suffix == ".safetensors":
        return load_file(checkpoint)
    return torch.load(checkpoint, map_location="cpu", weights_only=True)


def write_model_dir(out: pathlib.Path, tensors: dict, config: dict) -> None:
    """Writes OUT/config.json and OUT/model.safetensors, each through a temporary file and a rename."""
    out.mkdir(parents=True, exist_ok=True)
    config_tmp = out / ".config.json.tmp"
    config_tmp.write_text(json.dumps(config, indent=2) + "\n")
    os.replace(config_tmp, out / "config.json")
    weights_tmp = out / ".model.safetensors.tmp"
    save_file(tensors, weights_tmp)
    os.replace(weights_tmp, out / "model.safetensors")
    print(f"wrote {out} ({len(tensors)} tensors)")
