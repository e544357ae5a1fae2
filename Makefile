# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-cli test test-fast lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dicom-courier --demo

demo-cli: $(STAMP)
	$(BIN)/dicom-courier demo

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

# The tests that need no peer (no TCP at all; tests/conftest.py enforces the marker), in two
# processes (pytest-xdist). `make test` stays in one: its timing-bound tests run alone.
test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not network" -n 2

# ruff on the whole tree, then strict mypy on the engine (core/, as dicom_courier.core).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python .ci/typecheck.py

typecheck: $(STAMP)
	$(BIN)/python .ci/typecheck.py

# Issue 12's table against DCMTK and idle references (~10 min; BENCH_ARGS="--quick" to try).
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build/mypy-tree build/mypy-cache
