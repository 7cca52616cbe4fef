# serial-lora-rs: every target installs what it needs through `setup` (idempotent, seconds when done).
# One cargo profile (release, incremental) serves tests, benches and runs, so libtorch's C++ glue
# compiles once.
CARGO ?= cargo
PY := .venv/bin/python

.PHONY: setup test test-rust test-python lint bench

setup:
	@bash tools/setup.sh

test: setup lint test-rust

test-rust: setup
	$(CARGO) test --workspace --release

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --release --all-targets -- -D warnings

bench: setup
	$(CARGO) bench -p serial-lora --bench adapters
