# Developer and CI entry points. `make test` is what CI runs (via .ci/run).
#
# Tests start DynamoDB Local, the SES emulator and moto's S3 themselves (installed on
# first use into .cache/ by the rapport-local crate) and stop them when they exit, so
# nothing is left running: one of each for all the integration tests, plus the
# instances the fault and stack tests start, stop and kill on purpose. Set
# AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SES / AWS_ENDPOINT_URL_S3 to have the
# tests use an already running instance instead.
#
# The test step builds a test harness only for the libraries and the integration-test
# binaries (tests/ and jobs/models/tests/models/): the Lambda binaries have no tests of
# their own, and a harness for each would link the AWS SDK again.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

CARGO ?= cargo
CACHE_DIR := .cache
VENV := $(CACHE_DIR)/venv
CFN_LINT_VERSION := 1.58.0
CFN_LINT := $(VENV)/bin/cfn-lint
CFN_LINT_STAMP := $(VENV)/.cfn-lint-$(CFN_LINT_VERSION)
ASL_VALIDATOR_VERSION := 4.0.0
ASL_VALIDATOR_DIR := $(CACHE_DIR)/asl-validator
ASL_VALIDATOR := $(ASL_VALIDATOR_DIR)/node_modules/.bin/asl-validator
ASL_VALIDATOR_STAMP := $(ASL_VALIDATOR_DIR)/.asl-validator-$(ASL_VALIDATOR_VERSION)

define lints
$(CFN_LINT) template.yaml
$(ASL_VALIDATOR) --json-path infra/job.asl.json
$(CARGO) fmt --all -- --check
$(CARGO) clippy --workspace --all-targets -- -D warnings
endef

.PHONY: test lint up demo bench clean-cache

test:
	infra/require-tools.sh cargo java node npm python3
	infra/require-chromium.sh
	$(MAKE) --no-print-directory $(CFN_LINT_STAMP) $(ASL_VALIDATOR_STAMP)
	# The Lambda binaries the runtime test starts, built with the tests' features so
	# that no dependency is built twice.
	$(CARGO) build --workspace --bins --test '*'
	$(CARGO) test --workspace --lib --test '*'
	$(CARGO) test --workspace --doc
	$(lints)

lint:
	infra/require-tools.sh cargo node npm python3
	$(MAKE) --no-print-directory $(CFN_LINT_STAMP) $(ASL_VALIDATOR_STAMP)
	$(lints)

# The API on 127.0.0.1 backed by DynamoDB Local and the SES emulator, with moto's S3
# holding the run bucket.
up:
	infra/require-tools.sh cargo java node npm python3
	$(CARGO) run -p rapport-local --bin rapport-local -- up

# Replays a shop's history (a scripted stream, storefront webhooks, a code created at the
# stand-in stores' checkouts, then the CDNOW sample from PyPI, part of it through the
# history import) against a fresh local stack, runs the scoring-and-outreach job and
# writes its report to out/demo.
demo:
	infra/require-tools.sh cargo java node npm python3
	$(CARGO) run -p rapport-local --bin rapport-local -- demo

bench:
	infra/require-tools.sh cargo
	$(CARGO) bench --workspace

clean-cache:
	rm -rf $(CACHE_DIR)

# cfn-lint lives in a venv of its own, pinned, so CI and laptops lint alike.
$(CFN_LINT_STAMP):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "cfn-lint==$(CFN_LINT_VERSION)"
	rm -f $(VENV)/.cfn-lint-*
	touch $@

# asl-validator checks the job's state machine (infra/job.asl.json), pinned likewise.
$(ASL_VALIDATOR_STAMP):
	rm -rf $(ASL_VALIDATOR_DIR)
	mkdir -p $(ASL_VALIDATOR_DIR)
	npm install --prefix $(ASL_VALIDATOR_DIR) --no-audit --no-fund --save-exact --loglevel=error "asl-validator@$(ASL_VALIDATOR_VERSION)"
	touch $@
