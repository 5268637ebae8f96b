# flowvault: `make run` starts the product on its embedded default; `make test` proves it.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: run test lint venv clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

venv: $(BIN)/.installed

run: venv
	$(BIN)/flowvault serve

test: venv
	bash scripts/test.sh

lint: venv
	$(BIN)/ruff check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
