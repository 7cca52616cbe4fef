"""Side-by-side benchmark, the reference half: transformers' CLIP ViT-B/16 vision tower (random
weights, batch 8, 224 px, fp32, CPU by default) with peft LoRA on q,k,v,o and a hand-written
Serial LoRA (no library has it), the same cases as `crates/zoo/benches/vit_b16.rs`:

* `train:lora`, `train:serial_lora`: one training step (forward, backward, AdamW over the adapter
  parameters only), loss = mean of the squared pooled output, rank 8, alpha = rank (scale 1);
* `infer:base`, `infer:lora_merged` (peft `merge_and_unload()`), `infer:serial_lora_merged`
  (q/k/v weights folded by hand, `W <- W (I + s B A)`);
* `profile:lora`, `profile:serial_lora` (only when named): the model and warm-up of
  `train:<method>`, then exactly one training step under `torch.profiler` (CPU activity).

Usage: `vit_b16_peft.py [CASE ...]` (the `train:` and `infer:` cases when none is given). Prints
one JSON line per `train:`/`infer:` case; a `profile:` case prints one `"kind": "profile_step"`
line (the wall time of the profiled step, profiler overhead included) and then one
`"kind": "profile"` line per operator with self CPU time > 0, by self time descending.

Environment:

* `BENCH_THREADS`: torch threads, default: the number of cores;
* `BENCH_TINY=1`: 2 blocks of width 64 at 32 px, 1 warm-up and 2 timed iterations, for checking;
* `BENCH_PRECISION`: `fp32` (default) or `bf16`. With `bf16` the forward pass and the loss run
  under `torch.autocast("cpu", dtype=torch.bfloat16)` while the parameters stay fp32 (peft under
  autocast bf16); a training step's backward and AdamW step stay outside the autocast region,
  as in torch's AMP recipe;
* `BENCH_BATCH`: images per step, default 8;
* `BENCH_IMAGE`: image size in pixels, at least the patch size 16 (the patch convolution drops
  a remainder, as for 56 px); default 224 (32 with `BENCH_TINY=1`);
* `BENCH_DEVICE`: `cpu` (default), `cuda` or `cuda:N`; on CUDA every timed call ends with a
  synchronisation and autocast is CUDA's.
"""

import json
import os
import statistics
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from torch.profiler import ProfilerActivity, profile
from transformers import CLIPVisionConfig, CLIPVisionModel
from transformers.models.clip.modeling_clip import CLIPEncoderLayer

RANK = 8
PATCH = 16
CASES = [
    "train:lora",
    "train:serial_lora",
    "infer:base",
    "infer:lora_merged",
    "infer:serial_lora_merged",
]
PROFILE_CASES = ["profile:lora", "profile:serial_lora"]
PRECISIONS = ("fp32", "bf16")
TINY = os.environ.get("BENCH_TINY", "") not in ("", "0")
WARMUP, ITERS = (1, 2) if TINY else (2, 5)


def env_precision() -> str:
    """`BENCH_PRECISION`, checked against `PRECISIONS` (default `fp32`)."""
    precision = os.environ.get("BENCH_PRECISION") or "fp32"
    if precision not in PRECISIONS:
        raise SystemExit(f"BENCH_PRECISION must be one of {PRECISIONS}, got `{precision}`")
    return precision


def env_positive_int(name: str, default: int) -> int:
    """The positive integer in environment variable `name`, or `default` when it is unset/empty."""
    value = os.environ.get(name) or str(default)
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a positive integer, got `{value}`") from None
    if number < 1:
        raise SystemExit(f"{name} must be a positive integer, got `{value}`")
    return number


def env_image_size() -> int:
    """`BENCH_IMAGE` (default 224, or 32 with `BENCH_TINY`), checked to be at least PATCH."""
    size = env_positive_int("BENCH_IMAGE", 32 if TINY else 224)
    if size < PATCH:
        raise SystemExit(f"BENCH_IMAGE must be at least the patch size {PATCH}, got {size}")
    return size


def env_device() -> str:
    """`BENCH_DEVICE`: `cpu` (default), `cuda` or `cuda:N`."""
    device = os.environ.get("BENCH_DEVICE") or "cpu"
    if device != "cpu" and not device.startswith("cuda"):
        raise SystemExit(f"BENCH_DEVICE must be cpu, cuda or cuda:N, got `{device}`")
    return device


PRECISION = env_precision()
DEVICE = env_device()
BATCH = env_positive_int("BENCH_BATCH", 8)
IMAGE = env_image_size()


def vision_config() -> CLIPVisionConfig:
    """ViT-B/16 sizes (`openai/clip-vit-base-patch16`), or the tiny check size, at `IMAGE` px."""
    sizes = dict(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
    )
    if TINY:
        sizes = dict(
            hidden_size=64,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
        )
    return CLIPVisionConfig(
        **sizes,
        image_size=IMAGE,
        patch_size=PATCH,
        num_channels=3,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        attn_implementation="sdpa",
    )


def autocast() -> torch.autocast:
    """The region for forward passes and losses: bf16 CPU autocast when `PRECISION` is `bf16`,
    a disabled (fp32) one otherwise."""
    return torch.autocast(
        DEVICE.split(":")[0], dtype=torch.bfloat16, enabled=PRECISION == "bf16"
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
        """The wrapped attention on `x + s * B(A x)`."""
        adapted = hidden_states + self.scale * self.serial_lora_B(self.serial_lora_A(hidden_states))
        return self.attn(adapted, *args, **kwargs)

    @torch.no_grad()
    def merged(self) -> nn.Module:
        """The wrapped attention with `W <- W (I + s B A)` folded into q/k/v (biases unchanged)."""
        update = self.scale * self.serial_lora_B.weight @ self.serial_lora_A.weight
        eye = torch.eye(update.shape[0], dtype=update.dtype, device=update.device)
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
    """The tower with `method`'s adapters (`base`: none), on `DEVICE`."""
    model = CLIPVisionModel(vision_config())
    if method == "lora":
        config = LoraConfig(
            r=RANK,
            lora_alpha=RANK,
            lora_dropout=0.0,
            target_modules=["q_proj", "k_proj", "v_proj", "out_proj"],
        )
        model = get_peft_model(model, config)
    elif method == "serial_lora":
        model = add_serial_lora(model)
    elif method != "base":
        raise SystemExit(f"unknown method `{method}`; cases: {CASES + PROFILE_CASES}")
    return model.to(DEVICE)


def train_step(model: nn.Module, pixels: torch.Tensor):
    """Puts `model` in training mode and returns its training step: forward and loss under
    `autocast()`, then backward and an AdamW step over the trainable parameters outside it."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    def step():
        opt.zero_grad()
        with autocast():
            loss = model(pixel_values=pixels).pooler_output.square().mean()
        loss.backward()
        opt.step()

    return step


def warm_up(step) -> None:
    """Calls `step()` `WARMUP` times."""
    for _ in range(WARMUP):
        step()


def synchronize() -> None:
    """Waits for the device's queued work (CUDA); nothing on the CPU."""
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize(DEVICE)


def median_ms(step) -> float:
    """Median wall time of `step()` in milliseconds, after the warm-up calls."""
    warm_up(step)
    times = []
    for _ in range(ITERS):
        synchronize()
        start = time.perf_counter()
        step()
        synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """This process's peak resident set (`VmHWM`) in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def emit(line: dict) -> None:
    """Prints `line` as one JSON line (sorted keys) and flushes."""
    print(json.dumps(line, sort_keys=True), flush=True)


def run_profile(method: str, pixels: torch.Tensor) -> None:
    """Warms up `train:<method>`, profiles exactly one training step on the CPU and prints its
    `profile_step` line, then one `profile` line per operator with self time > 0."""
    step = train_step(build(method), pixels)
    warm_up(step)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        step()
        step_ms = (time.perf_counter() - start) * 1e3
    ident = {
        "impl": "peft",
        "precision": PRECISION,
        "method": method,
        "rank": RANK,
        "batch": BATCH,
        "image_size": IMAGE,
    }
    emit({**ident, "kind": "profile_step", "step_ms": step_ms})
    ops = [avg for avg in prof.key_averages() if avg.self_cpu_time_total > 0]
    for avg in sorted(ops, key=lambda avg: (-avg.self_cpu_time_total, avg.key)):
        emit(
            {
                **ident,
                "kind": "profile",
                "op": avg.key,
                "calls": avg.count,
                "self_ms": avg.self_cpu_time_total / 1e3,
            }
        )


def run(case: str, pixels: torch.Tensor, threads: int) -> None:
    """Runs `case` and prints its JSON line(s)."""
    kind, _, method = case.partition(":")
    if kind == "profile":
        if case not in PROFILE_CASES:
            raise SystemExit(f"unknown case `{case}`; cases: {CASES + PROFILE_CASES}")
        run_profile(method, pixels)
        return
    adapter = method.removesuffix("_merged")
    model = build(adapter)
    if kind == "train":
        step = train_step(model, pixels)
    elif kind == "infer":
        if method == "lora_merged":
            model = model.merge_and_unload()
        elif method == "serial_lora_merged":
            model = merge_serial_lora(model)
        elif method != "base":
            raise SystemExit(f"unknown case `{case}`; cases: {CASES + PROFILE_CASES}")
        model.eval()

        def step():
            with torch.no_grad(), autocast():
                model(pixel_values=pixels)

    else:
        raise SystemExit(f"unknown case `{case}`; cases: {CASES + PROFILE_CASES}")
    ms = median_ms(step)
    config = vision_config()
    emit(
        {
            "impl": "peft",
            "case": "train_step" if kind == "train" else "inference",
            "method": method,
            "rank": 0 if adapter == "base" else RANK,
            "precision": PRECISION,
            "device": DEVICE,
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
        }
    )


def main() -> None:
    """Sets the torch threads and seed, makes the input batch and runs the requested cases."""
    threads = int(os.environ.get("BENCH_THREADS") or os.cpu_count() or 1)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = vision_config()
    pixels = torch.randn(BATCH, config.num_channels, config.image_size, config.image_size)
    pixels = pixels.to(DEVICE)
    for case in sys.argv[1:] or CASES:
        run(case, pixels, threads)


if __name__ == "__main__":
    main()
