# The two commands of the README:
#   make reproduce   set up .venv, then regenerate every table of the supplementary (quick preset, synthetic data)
#   make test        set up .venv, then check notebooks/library sync, run every notebook's tests and pytest
# TORCH can be overridden, e.g. `make test TORCH="torch torchvision"` to take whatever your index serves.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.14.1 torchvision==0.29.1
BIN := $(VENV)/bin
NBDEV_TEST_FLAGS ?= --n_workers 2

.PHONY: setup test sync-check nbtest pytest reproduce lab clean-venv gpu-check docs docs-serve bench readme

setup: $(VENV)/.installed

$(VENV)/.installed: settings.ini setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[dev,docs]"
	touch $@

# The library must be exactly what the notebooks export, README what nbs/index.ipynb generates, and the notebooks clean.
sync-check: setup
	@$(BIN)/nbdev_export
	@$(BIN)/nbdev_clean
	@$(BIN)/python scripts/build_docs.py --readme >/dev/null
	@if [ -n "$$(git status --porcelain -- cmadepth nbs README.md)" ]; then \
	  echo "FAIL: nbdev_export/nbdev_clean/make readme changed these files; notebooks, library and README are out of sync:"; \
	  git status --porcelain -- cmadepth nbs README.md; git diff --stat -- cmadepth nbs README.md; exit 1; \
	else echo "sync-check: notebooks, library and README agree"; fi

# README.md from nbs/index.ipynb (its one source; nbdev_readme would need Quarto). Its results part is generated from
# results/ (the notebook's `#| output: asis` cells run with the library), so run it after a main job.
readme: setup
	$(BIN)/python scripts/build_docs.py --readme

nbtest: setup
	$(BIN)/nbdev_test $(NBDEV_TEST_FLAGS)

pytest: setup
	$(BIN)/python -m pytest -q tests

test: sync-check nbtest pytest

reproduce: setup
	$(BIN)/cmadepth-reproduce

# On a CUDA machine (≤ 8 min): Table 2 via the benchmark, a short training at 192×640 batch 12, torchrun over NCCL
# with 2 GPUs, the fast path vs the reference network; one table, runs/gpu_check.json, non-zero exit on failure.
gpu-check: setup
	$(BIN)/cmadepth-gpu-check

# The benchmark on this machine (CPU: about an hour on 2 cores; each job in a fresh process): Table 2's jobs, onnxruntime
# against PyTorch's fast path, training steps/s as cmadepth-train runs them at the quick, cpu and paper shapes.
# Prints the tables and writes runs/bench.json. Times are this machine's; compare ratios.
bench: setup
	$(BIN)/python -m cmadepth.bench_extra --onnx --train-presets quick,cpu,paper --json runs/bench.json

# The documentation site from the notebooks (nbs/index.ipynb the landing page), DEVELOPING and results/ (MkDocs; see scripts/build_docs.py):
# → _docs/site/index.html. DOCS_EXECUTE=none renders every notebook as stored; =all executes every library notebook.
DOCS_EXECUTE ?= cheap
docs: setup
	$(BIN)/python scripts/build_docs.py --execute $(DOCS_EXECUTE)

docs-serve: docs
	$(BIN)/python -m http.server --directory _docs/site 8000

lab: setup
	$(BIN)/jupyter lab nbs

clean-venv:
	rm -rf $(VENV)
