# Two commands: `make up` runs the whole system, `make test` runs every test.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: up test system-deps docs clean

up: $(STAMP)
	$(VENV)/bin/fedi up

# The tests wait on servers far more than they compute: a worker per core, each taking whole files
# (a module's stack is started once), halves the wall time on 2 cores. PYTEST_ARGS= runs them in one process.
PYTEST_ARGS ?= --numprocesses=auto --dist=loadfile

test: $(STAMP) system-deps
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# Regenerate the checked-in JSON Schema, AsyncAPI document and bus permissions from contracts/.
docs: $(STAMP)
	$(PYTHON) -m contracts.documents
	$(PYTHON) -m runtime.permissions

system-deps:
	@scripts/install-system-deps

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) var
