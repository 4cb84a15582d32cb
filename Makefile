# jiuzhu — the whole set-up is `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= $(CURDIR)/.demo
HOUSEHOLDS ?= 3000
AS_OF  ?= 2026-11-28

.PHONY: setup run lint test test-fast ui bench bench-ingest docs lock clean

setup: $(STAMP)

# Re-installs only when the lock or the project metadata changed (idempotent).
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "需要 Python 3.11 ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)
	@echo "environment ready: $(BIN)/jiuzhu"

# A fresh demo each time: a county generated over an older one's warehouse would mix the two.
# Two nights: the townships answer the first night's workbooks (some late, a few with mistakes),
# and the second night checks and applies what came back.
FIRST  ?= $(shell $(PYTHON) -c "import datetime as d; print(d.date.fromisoformat('$(AS_OF)') - d.timedelta(days=6))")
run: setup
	rm -rf $(DEMO)/county $(DEMO)/home
	$(BIN)/jiuzhu synth --out $(DEMO)/county --households $(HOUSEHOLDS) --as-of $(AS_OF)
	$(BIN)/jiuzhu run --landing $(DEMO)/county/landing --home $(DEMO)/home --as-of $(FIRST)
	$(BIN)/jiuzhu synth-feedback --exports $(DEMO)/home/exports/$(FIRST) --landing $(DEMO)/county/landing --until $(AS_OF)
	$(BIN)/jiuzhu run --landing $(DEMO)/county/landing --home $(DEMO)/home --as-of $(AS_OF)
	@echo "warehouse: $(DEMO)/home/warehouse.duckdb   exports: $(DEMO)/home/exports/$(AS_OF)   UI: make ui"

# ruff (lint and format) and mypy, configured in pyproject.toml; `make test` runs it first.
# All three run, and it fails if any found something.
lint: setup
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy || status=1; \
	exit $$status

test: setup lint
	$(BIN)/python -m pytest -q

# Leaves out the slow end-to-end tests (@pytest.mark.slow): CI runs `make test`, all of them.
test-fast: setup lint
	$(BIN)/python -m pytest -q -m "not slow"

ui: setup
	$(BIN)/jiuzhu ui --home $(DEMO)/home

# The night as a user lives it, at the county default (hours the first time: it generates the counties).
bench: setup
	$(BIN)/python -m benchmarks.night_bench

# The initial ingest of the county default against DuckDB's read_csv.
bench-ingest: setup
	$(BIN)/python -m benchmarks.ingest_bench

# docs/feeds.md and docs/rules.md from config/ and models/rules.py (a test fails when they are stale)
docs: setup
	$(BIN)/jiuzhu docs

# Regenerate the lock after changing dependencies in pyproject.toml.
lock:
	rm -rf /tmp/jiuzhu-lock && $(PYTHON) -m venv /tmp/jiuzhu-lock
	/tmp/jiuzhu-lock/bin/pip install --quiet --upgrade pip
	/tmp/jiuzhu-lock/bin/pip install --quiet -e '.[test]'
	/tmp/jiuzhu-lock/bin/pip freeze --exclude-editable | grep -v '^jiuzhu' > requirements.lock

clean:
	rm -rf $(VENV) $(DEMO)
