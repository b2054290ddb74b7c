# crmsync developer entry points. Everything is installed into ./.venv by these targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint fmt clean setup bench soak

# `make demo` needs only the runtime dependencies; `make test` adds the dev extra.
$(VENV)/.base: pyproject.toml
	@sh scripts/make-venv.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.base
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

setup: $(VENV)/.dev

demo: $(VENV)/.base
	$(BIN)/crmsync demo

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist

bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks

# Long randomised runs, before an issue closes: many seeds of the model-based two-way test.
SOAK_SEEDS ?= 1,2,3,4,5,6,7,8,9,10,11,12
SOAK_ROUNDS ?= 6
soak: $(VENV)/.dev
	CRMSYNC_MODEL_SEEDS=$(SOAK_SEEDS) CRMSYNC_MODEL_ROUNDS=$(SOAK_ROUNDS) $(BIN)/python -m pytest \
		tests/integration/sync/test_model_random.py --timeout 3600 -q
