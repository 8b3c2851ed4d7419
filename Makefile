# The two entry commands of README's Quick start. Each bootstraps .venv from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# checkov pins a boto3 of its own (older than aioboto3's botocore allows): it lives in a venv
# of its own, installed from its own lock.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: up test lint bench lock deploy deploy-args

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

$(CHECKOV_STAMP): cfn/checkov.lock
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r cfn/checkov.lock
	touch $(CHECKOV_STAMP)

## The local stack: emulator, resources, API on :8000, one demo order; Ctrl-C stops it.
up: $(STAMP)
	$(BIN)/orders up --demo

## The whole suite: lint, format, types, the contract gate, tests (templates: cfn-lint,
## checkov, Lambda zips).
## Exits non-zero on any failure.
test: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m contracts.gate
	$(BIN)/pytest

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

## Deploy to AWS: make deploy ENV=dev|staging|prod BUCKET=<artifact bucket> [STACK=...]
## Builds the zips for the environment's architecture, uploads them and the nested templates
## (aws cloudformation package), then creates or updates the stack from cfn/params/$(ENV).json.
ENV ?= dev
STACK ?= $(ENV)-order-pipeline
PACKAGED := dist/packaged-$(ENV).yaml
# Checked through the environment ($$VAR), never pasted into the shell line: a hostile value
# stays a string. Once checked, the recipes below may use them.
deploy-args: export ENV := $(ENV)
deploy-args: export STACK := $(STACK)
deploy-args: export BUCKET := $(BUCKET)
deploy-args:
	@case "$$ENV" in dev|staging|prod) ;; \
	  *) echo "make deploy: ENV must be dev, staging or prod (cfn/params/<ENV>.json)" >&2; exit 2;; esac
	@printf '%s\n' "$$BUCKET" | grep -Eqx '[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]' || \
	  { echo "make deploy: BUCKET=<S3 bucket for artifacts, in the stack's region> is required (3-63 of a-z 0-9 . -)" >&2; exit 2; }
	@printf '%s\n' "$$STACK" | grep -Eqx '[A-Za-z][A-Za-z0-9-]{0,127}' || \
	  { echo "make deploy: STACK must be a CloudFormation stack name (a letter, then letters, digits, -)" >&2; exit 2; }

deploy: deploy-args $(STAMP)
	$(BIN)/python -m cfn.bundle --params cfn/params/$(ENV).json
	$(BIN)/aws cloudformation package --template-file cfn/root.yaml \
	  --s3-bucket $(BUCKET) --s3-prefix $(STACK) --output-template-file $(PACKAGED)
	$(BIN)/aws cloudformation deploy --template-file $(PACKAGED) --stack-name $(STACK) \
	  --parameter-overrides file://dist/lambda/parameters.json \
	  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset
	$(BIN)/aws cloudformation describe-stacks --stack-name $(STACK) \
	  --query 'Stacks[0].Outputs' --output table
