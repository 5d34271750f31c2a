# b12 — two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install install-all run test check bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups --inexact --quiet  # --inexact: keep the Spark extra if it is there
	@touch $@

# The Spark extra (pyspark builds from source, ~45 s) only for the tests that need it (tests/e2e).
$(VENV)/.synced-all: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups --all-extras --quiet
	@touch $(VENV)/.synced $@

install: $(VENV)/.synced  ## create .venv and install b12 with the locked dependencies

install-all: $(VENV)/.synced-all  ## ... plus the optional Spark engine

run: install  ## the web app on http://127.0.0.1:8000 with an embedded SQLite database and a demo clinic
	$(BIN)/b12 serve --demo

test: install-all  ## the whole suite, SQL tests on SQLite and on a private PostgreSQL (scripts/postgres.sh), stopped after
	@bash scripts/install-chromium.sh  # Debian's chromium for the browser tests; does nothing once installed
	@trap 'bash scripts/postgres.sh stop' EXIT; trap 'exit 130' INT TERM; \
	bash scripts/postgres.sh start && \
	B12_TEST_POSTGRES_URL="$$(bash scripts/postgres.sh url)" $(BIN)/pytest -q

check: install  ## lint, format check, mypy strict
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: install  ## benchmarks that print ratios measured side by side
	$(BIN)/python bench/cli_startup.py
	$(BIN)/python bench/triage.py  # 10,000,000 rows: triage vs a bare DuckDB scan and vs pandas
	$(BIN)/python bench/api.py  # needs wrk (apt-get install -y wrk) for its load; else a Python fallback

.PHONY: bench-large
bench-large: install  ## the triage bench plus 100,000,000 rows out of core (~15 min, ~1 GB of disk in bench/out)
	$(BIN)/python bench/triage.py --large

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis
