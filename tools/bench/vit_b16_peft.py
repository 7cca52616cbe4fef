"""Side-by-side benchmark, the reference half: transformers' CLIP ViT-B/16 vision tower (random
weights, batch 8, 224 px, fp32, CPU) with peft LoRA on q,k,v,o and a hand-written Serial LoRA
(no library has it), the same cases as `crates/zoo/benches/vit_b16.rs`:

* `train:lora`, `train:serial_lora`: one training step (forward, backward, AdamW over the adapter
  parameters only), loss = mean of the squared pooled output, rank 8, alpha = rank (scale 1);
* `infer:base`, `infer:lora_merged` (peft `merge_and_unload()`), `infer:serial_lora_merged`
  (q/k/v weights folded by hand, `W <- W (I + s B A)`).

Usage: `vit_b16_peft.py [CASE ...]` (all cases when none is given); prints one JSON line per case.
Environment: `BENCH_THREADS` (torch threads, default: the number of cores), `BENCH_TINY=1`
(2 blocks of width 64 at 32 px, 1 warm-up and 2 timed iterations, for checking).
"""

import json
import os
import statistics
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel
from transformers.models.clip.modeling_clip import CLIPEncoderLayer

BATCH = 8
RANK = 8
CASES = [
    "train:lora",
    "train:serial_lora",
    "infer:base",
    "infer:lora_merged",
    "infer:serial_lora_merged",
]
TINY = os.environ.get("BENCH_TINY", "") not in ("", "0")
WARMUP, ITERS = (1, 2) if TINY else (2, 5)


def vision_config() -> CLIPVisionConfig:
    """ViT-B/16 sizes (`openai/clip-vit-base-patch16`), or the tiny check size."""
    sizes = dict(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        image_size=224,
    )
    if TINY:
        sizes = dict(
            hidden_size=64,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
        )
    return CLIPVisionConfig(
        **sizes,
        patch_size=16,
        num_channels=3,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        attn_implementation="sdpa",
    )


class SerialLoraAttention(nn.Module):
    """Serial LoRA around a `CLIPAttention`: one shared pair whose output is added to the input
    of q/k/v, `x' = x + s * B(A x)`; out_proj and the block's residual are untouched. `A` keeps
    nn.Linear's Kaiming-uniform (a = sqrt 5) init, `B` starts at zero."""

    def __init__(self, attn: nn.Module, rank: int, alpha: float):
        super().__init__()
        dim = attn.q_proj.in_features
        self.attn = attn
        self.serial_lora_A = nn.Linear(dim, rank, bias=False)
        self.serial_lora_B = nn.Linear(rank, dim, bias=False)
        nn.init.zeros_(self.serial_lora_B.weight)
        self.scale = alpha / rank

    def forward(self, hidden_states, *args, **kwargs):
        adapted = hidden_states + self.scale * self.serial_lora_B(self.serial_lora_A(hidden_states))
        return self.attn(adapted, *args, **kwargs)

    @torch.no_grad()
    def merged(self) -> nn.Module:
        """The wrapped attention with `W <- W (I + s B A)` folded into q/k/v (biases unchanged)."""
        update = self.scale * self.serial_lora_B.weight @ self.serial_lora_A.weight
        eye = torch.eye(update.shape[0], dtype=update.dtype)
        for proj in (self.attn.q_proj, self.attn.k_proj, self.attn.v_proj):
            proj.weight.copy_(proj.weight @ (eye + update))
        return self.attn


def encoder_layers(model: nn.Module) -> list:
    """Every CLIP block of `model` (the module tree differs between transformers versions)."""
    return [m for m in model.modules() if isinstance(m, CLIPEncoderLayer)]


def add_serial_lora(model: CLIPVisionModel) -> CLIPVisionModel:
    """Freezes the base and wraps every block's self-attention with a Serial LoRA pair."""
    model.requires_grad_(False)
    for layer in encoder_layers(model):
        layer.self_attn = SerialLoraAttention(layer.self_attn, RANK, float(RANK))
    return model


def merge_serial_lora(model: CLIPVisionModel) -> CLIPVisionModel:
    """Folds every Serial LoRA pair into q/k/v and unwraps the attention modules."""
    for layer in encoder_layers(model):
        layer.self_attn = layer.self_attn.merged()
    return model


def build(method: str) -> nn.Module:
    """The tower with `method`'s adapters (`base`: none)."""
    model = CLIPVisionModel(vision_config())
    if method == "lora":
        config = LoraConfig(
            r=RANK,
            lora_alpha=RANK,
            lora_dropout=0.0,
            target_modules=["q_proj", "k_proj", "v_proj", "out_proj"],
        )
        return get_peft_model(model, config)
    if method == "serial_lora":
        return add_serial_lora(model)
    if method == "base":
        return model
    raise SystemExit(f"unknown method `{method}`; cases: {CASES}")


def median_ms(step) -> float:
    """Median wall time of `step()` in milliseconds, after the warm-up calls."""
    for _ in range(WARMUP):
        step()
    times = []
    for _ in range(ITERS):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """This process's peak resident set (`VmHWM`) in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run(case: str, pixels: torch.Tensor, threads: int) -> None:
    """Runs `case` and prints its JSON line."""
    kind, _, method = case.partition(":")
    adapter = method.removesuffix("_merged")
    model = build(adapter)
    if kind == "train":
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

        def step():
            opt.zero_grad()
            loss = model(pixel_values=pixels).pooler_output.square().mean()
            loss.backward()
            opt.step()

    elif kind == "infer":
        if method == "lora_merged":
            model = model.merge_and_unload()
        elif method == "serial_lora_merged":
            model = merge_serial_lora(model)
        elif method != "base":
            raise SystemExit(f"unknown case `{case}`; cases: {CASES}")
        model.eval()

        def step():
            with torch.no_grad():
                model(pixel_values=pixels)

    else:
        raise SystemExit(f"unknown case `{case}`; cases: {CASES}")
    ms = median_ms(step)
    config = vision_config()
    print(
        json.dumps(
            {
                "impl": "peft",
                "case": "train_step" if kind == "train" else "inference",
                "method": method,
                "rank": 0 if adapter == "base" else RANK,
                "median_step_ms": ms,
                "images_per_s": BATCH * 1e3 / ms,
                "peak_rss_mb": peak_rss_mb(),
                "threads": threads,
                "batch": BATCH,
                "image_size": config.image_size,
                "layers": config.num_hidden_layers,
                "hidden_size": config.hidden_size,
                "warmup": WARMUP,
                "iters": ITERS,
            },
            sort_keys=True,
        ),
        flush=True,
    )


def main() -> None:
    threads = int(os.environ.get("BENCH_THREADS") or os.cpu_count() or 1)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = vision_config()
    pixels = torch.randn(BATCH, config.num_channels, config.image_size, config.image_size)
    for case in sys.argv[1:] or CASES:
        run(case, pixels, threads)


if __name__ == "__main__":
    main()
