"""Checks that diffusers loads an SD3 LoRA written by serial-lora-rs and computes the same output.

Usage: check_sd3_lora_diffusers.py MODEL_DIR ADAPTER_DIR INPUTS OUTPUTS
Versions as pinned by tools/requirements.txt (diffusers 0.42.0, peft). Loads diffusers'
`SD3Transformer2DModel` from MODEL_DIR and our adapter (ADAPTER_DIR/adapter_config.json +
adapter_model.safetensors, PEFT keys `base_model.model.<module>.lora_A.weight`) with diffusers' own
`transformer.load_lora_adapter(state_dict, prefix=None, metadata=adapter_config)`, so diffusers builds its
LoraConfig from our file, and with PEFT's `PeftModel.from_pretrained(transformer, ADAPTER_DIR)`. Fails (exit 1) on any unloaded key or if `sample` on INPUTS (diffusers' input
names) differs from OUTPUTS by more than 1e-5 relative (either way); prints a one-line summary on success.
"""
import json
import pathlib
import sys

import torch
from diffusers import SD3Transformer2DModel
from peft import PeftModel
from safetensors.torch import load_file

PEFT_PREFIX = "base_model.model."


def main(model_dir: str, adapter_dir: str, inputs: str, outputs: str) -> int:
    adapter = pathlib.Path(adapter_dir)
    config = json.loads((adapter / "adapter_config.json").read_text())
    stored = load_file(adapter / "adapter_model.safetensors")
    state = {key.removeprefix(PEFT_PREFIX): value for key, value in stored.items()}
    transformer = SD3Transformer2DModel.from_pretrained(model_dir).eval()
    transformer.load_lora_adapter(state, prefix=None, metadata=config, adapter_name="default")
    held = {name.replace(".default", ""): p for name, p in transformer.named_parameters() if "lora_" in name}
    if sorted(held) != sorted(state) or any(not torch.equal(held[k], state[k]) for k in state):
        print(f"diffusers holds other LoRA tensors than the file: {sorted(set(held) ^ set(state))}")
        return 1
    named = load_file(inputs)
    reference = load_file(outputs)["sample"]
    # PEFT alone, from the adapter folder (target_modules must select exactly our sites).
    peft_model = PeftModel.from_pretrained(SD3Transformer2DModel.from_pretrained(model_dir), adapter_dir).eval()
    rel = 0.0
    for who, model in (("diffusers", transformer), ("PEFT", peft_model)):
        with torch.no_grad():
            sample = model(**named).sample
        rel = max(rel, ((sample - reference).abs().max() / reference.abs().max()).item())
        if rel > 1e-5:
            print(f"{who}' output differs from ours by {rel:.2e} relative")
            return 1
    print(f"diffusers loaded {len(state)} LoRA tensors (r={config['r']}, lora_alpha={config['lora_alpha']}); "
          f"max relative difference {rel:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
