"""Turns the JSON lines of one `tools/bench/vit_b16.sh` run (ours: `cargo bench -p zoo --bench
vit_b16`; transformers + peft: `tools/bench/vit_b16_peft.py`) into the benchmark's CSV tables,
each written atomically (temp file + rename) into OUT:

* `vit_b16.csv`: one row per (impl, precision, case, method): median step time (of the round
  with the median, when a case ran several rounds), images/s, peak RSS and, for ours, the step's dense-product FLOP count, its achieved rate and the GEMM peak
  measured in the same run for that precision (`fraction_of_gemm_peak` = achieved / peak);
* `vit_b16_ratios.csv`: ours / peft of the median step time per (precision, case, method);
* `vit_b16_targets.csv`: each target of the speed issue, the measured value, the goal and whether
  it is met;
* `vit_b16_profile.csv`: the per-operator self times of one profiled training step, both impls;
* `vit_b16_scaling.csv`: our step time against batch and image size.

Usage: `vit_b16_tables.py LINES OUT [NAME]` (LINES: the main run's JSON lines; `LINES.scaling`, if
it exists, holds the scaling run's; NAME, default `vit_b16`, replaces `vit_b16` in the file names,
e.g. `vit_b16_gpu`), or `vit_b16_tables.py --check` (a self-test on made-up lines,
run by `make test-python`).
"""

import csv
import json
import os
import sys


def read_lines(path: str) -> list:
    """The JSON objects of `path`, one per line starting with `{`."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def write(out: str, name: str, header: list, rows: list) -> None:
    """Writes `rows` under `header` to `out/name` atomically and echoes the file."""
    path = os.path.join(out, name)
    tmp = os.path.join(out, f".{name}.tmp.{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, path)
    print(f"wrote {path}")
    with open(path) as f:
        print(f.read(), end="")


def fmt(value, digits: int = 3) -> str:
    """A number with `digits` decimals, or empty for None."""
    return "" if value is None else f"{value:.{digits}f}"


def median_rounds(steps: list) -> list:
    """One row per (impl, precision, case, method, batch, image size): of several rounds, the one
    with the median step time (the lower middle for an even count), with `rounds` set."""
    groups = {}
    for r in steps:
        key = (r["impl"], r["precision"], r["case"], r["method"], r["batch"], r["image_size"])
        groups.setdefault(key, []).append(r)
    kept = []
    for group in groups.values():
        group.sort(key=lambda r: r["median_step_ms"])
        row = dict(group[(len(group) - 1) // 2])
        row["rounds"] = len(group)
        kept.append(row)
    return kept


def tables(lines_path: str, out: str, name: str = "vit_b16") -> None:
    """Reads the lines, writes the five tables as `<name>*.csv`."""
    rows = read_lines(lines_path)
    steps = median_rounds([r for r in rows if r.get("case") in ("train_step", "inference")])
    peaks = {r["precision"]: r["gemm_peak_gflop_per_s"] for r in rows if r.get("case") == "gemm"}
    by_key = {(r["impl"], r["precision"], r["case"], r["method"]): r for r in steps}

    table = []
    for r in steps:
        achieved = r.get("achieved_gflop_per_s")
        peak = peaks.get(r["precision"]) if achieved is not None else None
        table.append(
            [r["impl"], r["precision"], r["case"], r["method"], r["rank"], r["batch"],
             r["image_size"], r["threads"], r["rounds"], fmt(r["median_step_ms"]),
             fmt(r["images_per_s"]),
             fmt(r["peak_rss_mb"], 1), fmt(r.get("gemm_flop_per_step"), 0), fmt(achieved, 1),
             fmt(peak, 1), fmt(achieved / peak if peak else None)]
        )
    write(out, f"{name}.csv",
          ["impl", "precision", "case", "method", "rank", "batch", "image_size", "threads",
           "rounds", "median_step_ms", "images_per_s", "peak_rss_mb", "gemm_flop_per_step",
           "achieved_gflop_per_s", "gemm_peak_gflop_per_s", "fraction_of_gemm_peak"], table)

    def ms(impl, precision, case, method):
        r = by_key.get((impl, precision, case, method))
        return r["median_step_ms"] if r else None

    def ratio(a, b):
        return a / b if a is not None and b else None

    ratios = []
    for (impl, precision, case, method) in by_key:
        if impl == "ours":
            value = ratio(ms("ours", precision, case, method), ms("peft", precision, case, method))
            if value is not None:
                ratios.append([precision, case, method, fmt(value)])
    write(out, f"{name}_ratios.csv", ["precision", "case", "method", "ratio_ours_to_peft"], ratios)

    def fraction(method):
        r = by_key.get(("ours", "fp32", "train_step", method))
        peak = peaks.get("fp32")
        return r["achieved_gflop_per_s"] / peak if r and peak else None

    train = "train_step"
    targets = [
        ("fp32 train step ours/peft, LoRA", ratio(ms("ours", "fp32", train, "lora"), ms("peft", "fp32", train, "lora")), "<=", 0.90),
        ("fp32 train step ours/peft, Serial LoRA", ratio(ms("ours", "fp32", train, "serial_lora"), ms("peft", "fp32", train, "serial_lora")), "<=", 0.90),
        ("fp32 train step Serial LoRA/LoRA (ours)", ratio(ms("ours", "fp32", train, "serial_lora"), ms("ours", "fp32", train, "lora")), "<=", 0.90),
        ("fp32 inference LoRA merged/base (ours)", ratio(ms("ours", "fp32", "inference", "lora_merged"), ms("ours", "fp32", "inference", "base")), "within", (0.98, 1.02)),
        ("fp32 inference Serial LoRA merged/base (ours)", ratio(ms("ours", "fp32", "inference", "serial_lora_merged"), ms("ours", "fp32", "inference", "base")), "within", (0.98, 1.02)),
        ("fp32 train step FLOP rate / GEMM peak, LoRA (ours)", fraction("lora"), ">=", 0.90),
        ("fp32 train step FLOP rate / GEMM peak, Serial LoRA (ours)", fraction("serial_lora"), ">=", 0.90),
        ("bf16 speed-up over fp32 (fp32 step / bf16 step), LoRA (ours)", ratio(ms("ours", "fp32", train, "lora"), ms("ours", "bf16", train, "lora")), ">=", 1.8),
        ("bf16 speed-up over fp32 (fp32 step / bf16 step), Serial LoRA (ours)", ratio(ms("ours", "fp32", train, "serial_lora"), ms("ours", "bf16", train, "serial_lora")), ">=", 1.8),
        ("bf16 train step ours/peft, LoRA", ratio(ms("ours", "bf16", train, "lora"), ms("peft", "bf16", train, "lora")), "<=", 0.85),
        ("bf16 train step ours/peft, Serial LoRA", ratio(ms("ours", "bf16", train, "serial_lora"), ms("peft", "bf16", train, "serial_lora")), "<=", 0.85),
        ("GEMM peak bf16/fp32 (same shape, same run)", ratio(peaks.get("bf16"), peaks.get("fp32")), "info", None),
    ]
    target_rows = []
    for target, value, op, goal in targets:
        if op == "info":
            goal_text, met = "", ""
        elif op == "within":
            goal_text = f"{goal[0]:.2f} to {goal[1]:.2f}"
            met = "" if value is None else ("yes" if goal[0] <= value <= goal[1] else "no")
        else:
            goal_text = f"{op} {goal:.2f}"
            ok = value is not None and (value <= goal if op == "<=" else value >= goal)
            met = "" if value is None else ("yes" if ok else "no")
        target_rows.append([target, fmt(value), goal_text, met])
    write(out, f"{name}_targets.csv", ["target", "measured", "goal", "met"], target_rows)

    profile_rows = []
    step_ms = {(r["impl"], r["precision"], r["method"]): r["step_ms"]
               for r in rows if r.get("kind") == "profile_step"}
    for r in rows:
        if r.get("kind") == "profile":
            total = step_ms.get((r["impl"], r["precision"], r["method"]))
            profile_rows.append(
                [r["impl"], r["precision"], r["method"], r["op"], r["calls"], fmt(r["self_ms"]),
                 fmt(r["self_ms"] / total if total else None, 4)])
    write(out, f"{name}_profile.csv",
          ["impl", "precision", "method", "op", "calls", "self_ms", "share_of_step"], profile_rows)

    scaling = median_rounds([r for r in read_lines(lines_path + ".scaling")
                             if r.get("case") in ("train_step", "inference")])
    write(out, f"{name}_scaling.csv",
          ["impl", "precision", "case", "method", "rank", "batch", "image_size",
           "median_step_ms", "images_per_s"],
          [[r["impl"], r["precision"], r["case"], r["method"], r["rank"], r["batch"],
            r["image_size"], fmt(r["median_step_ms"]), fmt(r["images_per_s"])] for r in scaling])


def check() -> None:
    """Self-test: made-up lines of both impls give the expected ratios and target verdicts."""
    import contextlib
    import io
    import tempfile

    def step(impl, precision, case, method, ms, flops=None):
        line = {"impl": impl, "precision": precision, "case": case, "method": method, "rank": 8,
                "batch": 8, "image_size": 224, "threads": 2, "median_step_ms": ms,
                "images_per_s": 8e3 / ms, "peak_rss_mb": 100.0}
        if flops is not None:
            line.update(gemm_flop_per_step=flops, achieved_gflop_per_s=flops / ms / 1e6)
        return line

    lines = [
        step("ours", "fp32", "train_step", "lora", 800.0, 2.4e11),
        step("ours", "fp32", "train_step", "lora", 700.0, 2.4e11),
        step("ours", "fp32", "train_step", "lora", 950.0, 2.4e11),
        step("peft", "fp32", "train_step", "lora", 1000.0),
        step("ours", "fp32", "train_step", "serial_lora", 760.0, 2.3e11),
        step("peft", "fp32", "train_step", "serial_lora", 800.0),
        step("ours", "fp32", "inference", "base", 100.0, 1e11),
        step("ours", "fp32", "inference", "lora_merged", 101.0, 1e11),
        step("ours", "fp32", "inference", "serial_lora_merged", 110.0, 1e11),
        {"impl": "ours", "case": "gemm", "precision": "fp32", "gemm_peak_gflop_per_s": 300.0},
        {"impl": "ours", "kind": "profile_step", "precision": "fp32", "method": "lora",
         "step_ms": 10.0},
        {"impl": "ours", "kind": "profile", "precision": "fp32", "method": "lora",
         "op": "aten::mm", "calls": 3, "self_ms": 4.0},
    ]
    with tempfile.TemporaryDirectory() as out:
        path = os.path.join(out, "lines")
        with open(path, "w") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
        with contextlib.redirect_stdout(io.StringIO()):
            tables(path, out)
        with open(os.path.join(out, "vit_b16_targets.csv")) as f:
            targets = {r["target"]: r for r in csv.DictReader(f)}
        with open(os.path.join(out, "vit_b16_profile.csv")) as f:
            profile = list(csv.DictReader(f))
    expect = {
        "fp32 train step ours/peft, LoRA": ("0.800", "yes"),
        "fp32 train step ours/peft, Serial LoRA": ("0.950", "no"),
        "fp32 train step Serial LoRA/LoRA (ours)": ("0.950", "no"),
        "fp32 inference LoRA merged/base (ours)": ("1.010", "yes"),
        "fp32 inference Serial LoRA merged/base (ours)": ("1.100", "no"),
        "fp32 train step FLOP rate / GEMM peak, LoRA (ours)": ("1.000", "yes"),
        "bf16 train step ours/peft, LoRA": ("", ""),
    }
    for name, (measured, met) in expect.items():
        got = (targets[name]["measured"], targets[name]["met"])
        assert got == (measured, met), f"{name}: {got}, expected {(measured, met)}"
    assert profile[0]["share_of_step"] == "0.4000", profile
    print("vit_b16_tables.py --check: ok")


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        check()
    else:
        tables(*sys.argv[1:4])
