# ollama-gate. The two commands of the project:
#   make demo   start the local lab, deploy the gate to it, print each endpoint
#   make test   the whole test suite (unit, fixtures, real nginx, lab end-to-end)
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYINFRA := $(VENV)/bin/pyinfra
# Debian packages the tests use: a real nginx with the Lua module, wrk for the benchmark,
# curl, pebble (Let's Encrypt's test CA, for the acme tests), and what the lab needs to
# build its hosts (debootstrap) and run them (docker.io).
TEST_PACKAGES := nginx libnginx-mod-http-lua wrk curl debootstrap docker.io openssh-client openssl make python3-venv pebble

.PHONY: models-archive venv deps demo demo-fleet test unit integration e2e lab-up lab-down lab-clean lab-status down bench fault-table mutation

venv: $(VENV)/.installed
# The pinned requirements, then this project editable: the `ollama-gate` command runs this
# checkout from any directory.
$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

# System packages (Debian, as root); a no-op when they are there already.
deps:
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -q --no-install-recommends $$missing; fi

demo: venv deps
	$(PY) -m lab up
	$(PYINFRA) -y inventory/lab.py deploy.py
	$(PY) -m lab endpoints

# Three lab hosts: one gateway in front of two backends, the gateway's curl line last.
demo-fleet: venv deps
	$(PY) -m lab up --fleet
	$(PYINFRA) -y inventory/lab.py deploy.py
	$(PY) -m lab endpoints

lab-up: venv deps
	$(PY) -m lab up
lab-status: venv
	$(PY) -m lab status
lab-down: venv
	$(PY) -m lab down
down: lab-down
# Also the lab's images and archives (the next lab-up builds them again, about 2 minutes).
lab-clean: venv
	$(PY) -m lab down --images

unit: venv
	$(PY) -m pytest -q tests/unit tests/facts tests/operations

integration: venv deps
	$(PY) -m pytest -q tests/integration

e2e: venv deps
	$(PY) -m pytest -q tests/lab tests/e2e

test: venv deps
	$(PY) -m pytest -q tests

# Models for hosts without internet: make models-archive MODELS="gemma3:1b" [OUT=models.tar]
# (from $$OLLAMA_MODELS or ~/.ollama/models; then models_source = "local").
MODELS ?= gemma3:1b
OUT ?= models.tar
models-archive: venv
	$(PY) -m ollama_gate models-archive $(OUT) $(MODELS)

# Mutation testing of the security-critical code against the fast suites (not part of
# `make test`: see README "Mutation testing" for what it runs and how long it takes).
# MUTATION_ARGS="--only proxy", "--incremental", "--no-python", "--proofs".
mutation: venv deps
	$(VENV)/bin/pip install -q -r requirements-mutation.txt
	$(PY) -m tests.mutation.run $(MUTATION_ARGS)

bench: venv deps
	$(PY) bench/proxy_bench.py

# The README's fault table from the figures the e2e tests measured (.lab/faults/).
fault-table: venv
	$(PY) -m tests.e2e.faults --write
