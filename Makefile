# assoc-pipeline — the two commands: `make demo` and `make test` (both create .venv if needed).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# CPU wheel of torch first (seconds here); on a GPU machine: make TORCH_SPEC="torch>=2.3" ...
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.installed
export MLFLOW_DISABLE_TELEMETRY := true
export DAGSTER_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := false

.PHONY: demo test ui mlflow lint bench install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,spark,postgres]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/assoc-pipeline demo

test: $(STAMP)
	$(BIN)/python -m pytest

ui: $(STAMP)
	$(BIN)/assoc-pipeline ui

mlflow: $(STAMP)
	$(BIN)/assoc-pipeline mlflow

lint: $(STAMP)
	$(BIN)/ruff check assoc_pipeline assoc_pipeline_tests benchmarks

# the whole mining table (about 10-15 min on 2 shared cores); rewrites benchmarks/RESULTS.md.
# BENCH_ARGS="--device cuda" also times the CUDA path, "--quick" four small cases
bench: $(STAMP)
	$(BIN)/python benchmarks/mining.py $(BENCH_ARGS)

clean:
	rm -rf .assoc_data .dagster_home
