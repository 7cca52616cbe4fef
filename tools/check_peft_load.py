"""Checks that PEFT loads an adapter directory written by serial-lora-rs, exactly.

Usage: check_peft_load.py MODEL_DIR ADAPTER_DIR
Loads transformers' CLIPVisionModel from MODEL_DIR, then `PeftModel.from_pretrained(model, ADAPTER_DIR)`.
Fails (exit 1) on any missing or unexpected adapter key, or if any LoRA parameter PEFT holds differs from
the tensor in ADAPTER_DIR/adapter_model.safetensors. Prints a one-line summary on success.
"""
import sys
import warnings

from peft import PeftModel
from safetensors.torch import load_file
from transformers import CLIPVisionModel


def main(model_dir: str, adapter_dir: str) -> int:
    base = CLIPVisionModel.from_pretrained(model_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PeftModel.from_pretrained(base, adapter_dir)
    key_warnings = [str(w.message) for w in caught if "keys" in str(w.message).lower()]
    if key_warnings:
        print("PEFT reported key problems:", *key_warnings, sep="\n  ")
        return 1
    stored = load_file(f"{adapter_dir}/adapter_model.safetensors")
    held = {
        name.replace(".default", ""): p
        for name, p in model.named_parameters()
        if "lora_" in name
    }
    missing = sorted(set(stored) - set(held))
    unexpected = sorted(set(held) - set(stored))
    if missing or unexpected:
        print("keys in the file PEFT does not hold:", missing)
        print("LoRA parameters PEFT made that the file lacks:", unexpected)
        return 1
    for name, tensor in stored.items():
        if not held[name].detach().equal(tensor):
            print("PEFT holds different values for", name)
            return 1
    print(f"PEFT loaded {len(stored)} tensors from {adapter_dir}: no missing or unexpected keys, values equal")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
