# Two commands on a fresh clone: `make run` and `make test`. Each builds its own venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= botwatch-demo

.PHONY: run test lint typecheck unit bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## run: start the demo fleet and the monitor watching it (on SQLite)
run: $(BIN)/.installed
	$(BIN)/botwatch demo --dir $(DEMO) --monitor

## test: lint, type-check and the whole test suite
test: lint typecheck unit

lint: $(BIN)/.installed
	$(BIN)/ruff check botwatch tests benchmarks
	$(BIN)/ruff format --check botwatch tests benchmarks

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed
	$(BIN)/pytest -q

bench: $(BIN)/.installed
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .botwatch $(DEMO) .pytest_cache .mypy_cache .ruff_cache
