# crmsync developer entry points. Everything is installed into ./.venv by these targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint fmt clean setup bench chromium node postgres soak

# `make demo` needs only the runtime dependencies; `make test` adds the dev extra.
$(VENV)/.base: pyproject.toml
	@sh scripts/make-venv.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

# `make demo` ends by printing the `crmsync serve` command for its project: the serve extra comes with it.
$(VENV)/.serve: $(VENV)/.base
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[serve]"
	@touch $@

$(VENV)/.dev: $(VENV)/.base
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

setup: $(VENV)/.dev

demo: $(VENV)/.serve
	$(BIN)/crmsync demo

# The status page's browser test drives Debian's chromium (Playwright's own browser download needs the
# internet). Installed here when missing and we are root; otherwise the test fails saying how to get it.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the status page's browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "warning: no chromium; the browser test will fail: sudo apt-get install -y chromium" >&2; fi; }

# The WatermelonDB reference client's tests run real Node with the packages pinned in its lockfile
# (examples/watermelon-client). Node and npm come from Debian when missing and we are root; otherwise
# the test fails saying how to get them. `npm ci` needs only the npm registry and runs no install scripts.
WM_CLIENT := examples/watermelon-client
node:
	@{ command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing nodejs and npm for the WatermelonDB reference client's tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "warning: no node/npm; the WatermelonDB client tests will fail: sudo apt-get install -y nodejs npm" >&2; fi; }
	@if command -v npm >/dev/null 2>&1; then $(MAKE) -s --no-print-directory $(WM_CLIENT)/node_modules/.package-lock.json; fi

$(WM_CLIENT)/node_modules/.package-lock.json: $(WM_CLIENT)/package.json $(WM_CLIENT)/package-lock.json
	cd $(WM_CLIENT) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# The Postgres store's tests start a throwaway PostgreSQL server of their own (tests/postgres_plugin.py) from
# Debian's server binaries (initdb, postgres; /usr/lib/postgresql/<version>/bin). Installed here when missing
# and we are root; otherwise those tests fail saying how to get them. Nothing is installed when they are there.
postgres:
	@{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	   [ -x "$${CRMSYNC_PG_BIN:-/nonexistent}/initdb" ]; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing postgresql for the Postgres store's tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "warning: no PostgreSQL server; the Postgres tests will fail: sudo apt-get install -y postgresql" >&2; fi; }

# Test files run on TEST_WORKERS processes (pytest-xdist; one file stays on one worker, so its module
# fixtures are shared as written). Most tests wait on loopback HTTP and rate-limit windows, not the CPU,
# so 3 workers suit a 2-core machine. TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 3
test: $(VENV)/.dev chromium node postgres
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist $(WM_CLIENT)/node_modules

bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks

# Long randomised runs, before an issue closes: many seeds of the model-based two-way test, the fuzz
# tests with many examples, the dry-run parity property with many edit sets, and the app convergence
# test (WatermelonDB phones and both CRMs; marker `soak`, never in the default run).
SOAK_SEEDS ?= 1,2,3,4,5,6,7,8,9,10,11,12
SOAK_ROUNDS ?= 6
SOAK_EXAMPLES ?= 50
soak: $(VENV)/.dev node
	CRMSYNC_CONVERGENCE_SEEDS=$(SOAK_SEEDS) CRMSYNC_CONVERGENCE_ROUNDS=$(SOAK_ROUNDS) $(BIN)/python -m pytest -m soak \
		tests/integration/appsync/test_convergence_random.py --timeout 7200 -q
	CRMSYNC_MODEL_SEEDS=$(SOAK_SEEDS) CRMSYNC_MODEL_ROUNDS=$(SOAK_ROUNDS) $(BIN)/python -m pytest \
		tests/integration/sync/test_model_random.py --timeout 3600 -q
	CRMSYNC_FUZZ_EXAMPLES=$(SOAK_EXAMPLES) $(BIN)/python -m pytest -m fuzz_long --timeout 3600 -q \
		tests/integration/sync/test_fuzz_values.py
	CRMSYNC_PARITY_EXAMPLES=$(SOAK_EXAMPLES) $(BIN)/python -m pytest --timeout 3600 -q \
		tests/integration/sync/test_dry_run_parity.py
