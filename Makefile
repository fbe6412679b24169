# Scripts to set up, check and run perps-sim. CI runs these same targets (.ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test test-contract test-durability soak test-container test-examples lint check bench serve parity clean

# kalshi-sdk (the API tests parse responses with it) declares Python >= 3.12 but runs on 3.11.
$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt \
		--ignore-requires-python kalshi-sdk==22.4.0
	touch $@

install: $(BIN)/.installed

# The fast suite: everything but tests/contract, property tests with the default profile; in
# TEST_JOBS parallel workers (pytest-xdist; `auto`: one per CPU, 0: in this process alone).
# `--dist loadgroup` keeps the modules of tests/api on one worker (tests/conftest.py).
TEST_JOBS ?= auto

test: install
	$(BIN)/pytest -n $(TEST_JOBS) --dist loadgroup

# The slow suite: schemathesis against a live server (tests/contract) and every property test
# with the thorough Hypothesis profile (tests/conftest.py).
test-contract: install
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest tests/contract
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest -n $(TEST_JOBS) -m hypothesis

# Durability (about four minutes): `kill -9` under REST + WebSocket + FIX load, and restarts
# (tests/durability), then a soak of REST, WebSocket and FIX clients against one server
# (benchmarks/soak.py, short history limits) that fails on any client error or on its RSS level
# (a median: a snapshot's transient peak does not count) growing more than 25 % after its
# one-minute warm-up. SOAK_MINUTES=30 by hand (`make soak`).
SOAK_MINUTES ?= 3

test-durability: install
	$(BIN)/pytest tests/durability
	$(BIN)/python benchmarks/soak.py --minutes $(SOAK_MINUTES)

soak: install
	$(BIN)/python benchmarks/soak.py --minutes $(SOAK_MINUTES)

# The Docker image (root and buildah; a few minutes): container-smoke builds the Dockerfile as
# localhost/perps-sim-smoke and checks that its entrypoint answers, then tests/container reaches
# REST, WebSocket and FIX in a container of it. The script imports its debootstrap base with
# podman when buildah cannot (Debian's buildah has no `import`), so podman is installed first.
CONTAINER_SMOKE ?= ../shared/tools/container-smoke

test-container: install
	command -v podman >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null; }
	$(CONTAINER_SMOKE)
	$(BIN)/pytest tests/container

# The example client project (examples/pytest-project) in a fresh virtual environment with
# perps-sim installed from this checkout, not editable: the pytest plugin from its entry point.
test-examples:
	PYTHON=$(PYTHON) examples/pytest-project/run.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: test lint

bench: install
	$(BIN)/python benchmarks/bench_matching.py
	$(BIN)/python benchmarks/bench_exchange.py
	$(BIN)/python benchmarks/bench_clock.py
	$(BIN)/python benchmarks/bench_time_travel.py
	$(BIN)/python benchmarks/bench_rest.py
	$(BIN)/python benchmarks/bench_ws.py
	$(BIN)/python benchmarks/bench_fix.py
	$(BIN)/python benchmarks/bench_durability.py

# flags for `perps-sim serve`: make serve ARGS="--clock manual --port 9000"
ARGS ?=

serve: install
	$(BIN)/perps-sim serve $(ARGS)

# docs/parity.md from the code (tests/test_parity_doc.py fails when it is stale)
parity: install
	$(BIN)/python docs/gen_parity.py

clean:
	rm -rf $(VENV) .bench .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
