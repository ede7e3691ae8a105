# ollama-gate: the two commands of the project are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: venv test unit

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

unit: venv
	$(PY) -m pytest -q tests/unit

test: venv
	$(PY) -m pytest -q tests
