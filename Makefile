# Every target creates the environment it needs: a fresh clone on a machine with only Python 3.11 works.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow lint typecheck bench bench-large clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11+ or run make PYTHON=python3"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,sandbox]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/connector demo

# The standard suite; the slow, large variants (crash points, big worlds) run with `make test-slow` (CI runs both).
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check connector tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# One full first sync of 100,000 accounts against the sandbox (its own process), peak RSS of the sync alone
# (target 500 MB); about a quarter of an hour on 2 free cores. `bench/run_all.py --large` is the hours-long set.
bench-large: $(STAMP)
	$(BIN)/python bench/bench_memory.py --sizes 100000

clean:
	rm -rf $(VENV) state runs demo-output .pytest_cache .mypy_cache .ruff_cache
