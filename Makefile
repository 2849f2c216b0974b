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
# Cache compiled modules in __pycache__ even where the environment says not to (this machine's image
# sets PYTHONDONTWRITEBYTECODE=1): otherwise every process compiles pandas, Dagster and MLflow from
# source again, about 6 s of each `assoc-pipeline recommend` here. Commands run outside make read them.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test ui mlflow lint bench bench-pipeline install clean

# uv resolves and downloads in parallel (about 1.5 min here, pip took about 3). Wheel folders of
# your pip config (pip config get global.find-links) are used too; torch's CPU index otherwise.
FIND_LINKS := $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)
UV_SOURCES ?= $(if $(FIND_LINKS),--find-links $(FIND_LINKS),--extra-index-url https://download.pytorch.org/whl/cpu)

# uv installs without compiling bytecode (pip compiles all 22,000 files of site-packages, ~60 s
# here); otherwise a fresh clone's first demo compiled each module at its first import, ~30 s of
# it. scripts/precompile.py compiles the ~1,000 library folders the demo imports from (~17 s).

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt uv
	$(BIN)/uv pip install -q --python $(BIN)/python $(UV_SOURCES) --index-strategy unsafe-best-match \
		-c constraints.txt "$(TORCH_SPEC)" -e ".[dev,spark,postgres]"
	$(BIN)/python scripts/precompile.py
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/assoc-pipeline demo

# two pytest-xdist workers (tests sharing a costly fixture stay on one worker: conftest.py);
# TEST_WORKERS=0 runs everything in one process
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

ui: $(STAMP)
	$(BIN)/assoc-pipeline ui

mlflow: $(STAMP)
	$(BIN)/assoc-pipeline mlflow

lint: $(STAMP)
	$(BIN)/ruff check assoc_pipeline assoc_pipeline_tests benchmarks scripts

# the whole mining table (2-3 min on 2 idle cores); rewrites benchmarks/RESULTS.md. It times the
# GPU path too when torch sees a GPU; BENCH_ARGS="--device cpu" skips it, "--quick" four small cases
bench: $(STAMP)
	$(BIN)/python benchmarks/mining.py $(BENCH_ARGS)

# make demo's whole graph asset by asset, cold, in a scratch dir; appends to benchmarks/RESULTS.md
bench-pipeline: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py

clean:
	rm -rf .assoc_data .dagster_home
