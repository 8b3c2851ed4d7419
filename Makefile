# The two entry commands of README's Quick start. Each bootstraps .venv from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint bench lock

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

## The local stack: emulator, resources, API on :8000, one demo order; Ctrl-C stops it.
up: $(STAMP)
	$(BIN)/orders up --demo

## The whole suite: lint, format, types, tests. Exits non-zero on any failure.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

## Benchmarks of issue-level performance targets (outside the default test run).
## Both always run; the target fails if either misses its target.
bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.api_handler; a=$$?; \
	$(BIN)/python -m tests.benchmarks.cold_start; b=$$?; \
	$(BIN)/python -m tests.benchmarks.consumer_throughput; \
	$(BIN)/python -m tests.benchmarks.end_to_end; c=$$?; \
	exit $$((a || b || c))

## Re-resolve the lock after changing dependencies in pyproject.toml. boto3/botocore are named
## at aiobotocore's pinned version: left free, pip backtracks through boto3 releases for minutes.
BOTO_PIN := $(shell sed -n 's/^botocore==//p' requirements.lock)
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet -e '.[dev]' 'boto3==$(BOTO_PIN)' 'botocore==$(BOTO_PIN)'
	.lockvenv/bin/python -m pip freeze --exclude-editable | grep -v '^order-pipeline' > requirements.lock
	rm -rf .lockvenv
