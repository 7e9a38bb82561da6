# infracheck - `make` alone lists the targets.
#
# Everything runs from a virtualenv in .venv that the targets create and fill
# themselves, so a fresh clone needs nothing but python3 (>= 3.11) and make.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
BYTECODE := $(VENV)/.bytecode
SOURCES := $(wildcard infracheck/*.py infracheck/*/*.py)

PROJECT ?= netra-staging
REGION ?= us-central1
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install demo demo-healthy diagnose test contract unit lint typecheck fixtures golden bench docs fuzz clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

# pip compiles an installed package's modules; this does it for the editable
# source. Where PYTHONDONTWRITEBYTECODE=1 is set (as on some CI and dev
# machines) Python would otherwise compile every infracheck module again at
# every start (docs/results.md has what a replay costs). A stale .pyc is never used.
$(BYTECODE): $(STAMP) $(SOURCES)
	@$(BIN)/python -m compileall -q infracheck >/dev/null
	@touch $@

install: $(STAMP) $(BYTECODE)  ## create .venv and install infracheck (editable) with the test tools

demo: $(STAMP) $(BYTECODE)  ## replay the seed's recorded outage (no cloud needed): CRITICAL, exit 2
	$(BIN)/infracheck diagnose --replay fixtures/outage --issue 1278

demo-healthy: $(STAMP) $(BYTECODE)  ## replay a healthy stack: HEALTHY, exit 0
	$(BIN)/infracheck diagnose --replay fixtures/healthy --issue 1278

diagnose: $(STAMP) $(BYTECODE)  ## live run with your gcloud: make diagnose PROJECT=... REGION=... ARGS='--format json'
	@# Not echoed: with --format json stdout must be nothing but the report (| jq).
	@$(BIN)/infracheck diagnose --project=$(PROJECT) --region=$(REGION) $(ARGS)

test: $(STAMP) $(BYTECODE) lint typecheck  ## the whole suite: unit tests and the real-gcloud contract suite
	$(BIN)/python -m pytest -q

unit: $(STAMP) $(BYTECODE)  ## unit tests only (no gcloud process)
	$(BIN)/python -m pytest -q -m 'not contract'

contract: $(STAMP) $(BYTECODE)  ## the contract suite: real gcloud against the fake Google API
	$(BIN)/python -m pytest -q -m contract

lint:  ## one module owns each dependency: sh, jmespath, colorama
	@$(PYTHON) tests/tools/lint_imports.py

typecheck: $(STAMP)  ## mypy --strict on the package
	$(BIN)/python -m mypy infracheck

fixtures: $(STAMP)  ## re-record fixtures/<scenario> from fixtures/api/<scenario> through real gcloud
	$(BIN)/python tests/tools/record_fixtures.py

golden: $(STAMP)  ## rewrite tests/golden/ (every format on outage and healthy); review with git diff
	$(BIN)/python tests/tools/golden.py

bench: $(STAMP) $(BYTECODE)  ## infracheck vs the seed's sequential commands, real gcloud, fake API with latency; writes docs/results.md
	$(BIN)/python tests/tools/bench.py

# The built-in profile's names, whatever the caller's INFRACHECK_* variables say
# (tests/test_docs.py compares the page with the same command under the same rule).
docs: $(STAMP) $(BYTECODE)  ## rewrite docs/checks.md from the catalog (infracheck list --format markdown)
	env $$(env | sed -n 's/^\(INFRACHECK_[A-Za-z0-9_]*\)=.*/-u \1/p') $(BIN)/infracheck list --format markdown > docs/checks.md

fuzz: $(STAMP)  ## the property-based suite at length: 3000 mutated recordings (make test runs 40)
	INFRACHECK_FUZZ_PROFILE=fuzz $(BIN)/python -m pytest -q tests/test_fuzz.py

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
