"""Loads a merged export (`zoo merge`) with the reference library as any of its users would —
transformers' `CLIPModel` / `Dinov2Model` / `SamModel`, diffusers' `SD3Transformer2DModel`, each
`from_pretrained(folder)` — runs it on the inputs and compares every output with ours (the unmerged
adapter in our runtime, `zoo forward`). Exit status 0 when every output agrees within the fp32
tolerance (relative to the largest reference value); prints the largest difference.

    python tools/check_merged_export.py MERGED_DIR INPUTS.safetensors OURS.safetensors [MERGED_DIR …]
"""

import json
import pathlib
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "fixtures"))
from make_zoo_fixtures import outputs_of  # noqa: E402  (the fixtures' own output flattening)

TOLERANCE = 1e-5


def reference_outputs(folder: str, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    config = json.load(open(f"{folder}/config.json"))
    with torch.no_grad():
        if config.get("_class_name") == "SD3Transformer2DModel":
            from diffusers import SD3Transformer2DModel

            model = SD3Transformer2DModel.from_pretrained(folder).eval()
            return {"sample": model(**inputs).sample}
        import transformers

        classes = {
            "clip": transformers.CLIPModel,
            "dinov2": transformers.Dinov2Model,
            "sam": transformers.SamModel,
        }
        model = classes[config["model_type"]].from_pretrained(folder).eval()
        return outputs_of(model(**inputs))


def check(folder: str, inputs_path: str, ours_path: str) -> float:
    """The largest relative difference between our outputs and the reference model's."""
    ours = load_file(ours_path)
    reference = reference_outputs(folder, load_file(inputs_path))
    worst = 0.0
    for name, value in ours.items():
        if name not in reference:
            sys.exit(f"{folder}: {name}: the reference model has no such output ({sorted(reference)})")
        ref = reference[name].float()
        diff = (value - ref).abs().max().item() / max(ref.abs().max().item(), 1e-12)
        worst = max(worst, diff)
    print(f"{folder}: {len(ours)} output(s), largest relative difference {worst:.2e}")
    return worst


def main() -> None:
    args = sys.argv[1:]
    if not args or len(args) % 3:
        sys.exit(__doc__)
    worst = max(check(*args[i : i + 3]) for i in range(0, len(args), 3))
    if not worst <= TOLERANCE:
        sys.exit(f"a merged export disagrees with its unmerged adapter: {worst:.2e} > {TOLERANCE}")


if __name__ == "__main__":
    main()
