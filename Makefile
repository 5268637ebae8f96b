# flowvault: `make run` starts the product on its embedded default; `make test` proves it.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: run test bench lint venv web clean compile

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

venv: $(BIN)/.installed

# The web app: npm ci when the lock file changed, npm run build when a source is newer than dist/.
WEB := frontend
WEB_SOURCES := $(shell find $(WEB)/src -type f 2>/dev/null) $(addprefix $(WEB)/,index.html package.json openapi.json vite.config.ts tsconfig.json)

$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund

$(WEB)/dist/index.html: $(WEB)/node_modules/.package-lock.json $(WEB_SOURCES)
	cd $(WEB) && npm run build

web: $(WEB)/dist/index.html

# Byte-compiled once here, so a start never compiles (PYTHONDONTWRITEBYTECODE would make every start do it).
compile: venv
	$(BIN)/python -m compileall -q src >/dev/null

run: venv web compile
	$(BIN)/flowvault serve

test: venv
	bash scripts/test.sh

# Benchmarks (issue 6; not part of `make test`): loopback only, bounded load, ~10 min; needs Debian's `hey`.
# Quick mode: `make bench BENCH_ARGS=--quick`. Figures: bench/results.json, docs/PERFORMANCE.md.
bench: venv compile
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: venv
	$(BIN)/ruff check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(WEB)/node_modules $(WEB)/dist
