# The two commands of the README:
#   make run    set up .venv, install, serve the site on http://127.0.0.1:5000
#               (PORT=5050 make run for another port, HOST=0.0.0.0 for every interface)
#   make test   set up .venv with the test tools, run the whole test suite
# Both install the exact versions of the lock files, so every machine runs
# the same code.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: run test install install-dev lock clean

run: $(VENV)/.installed
	$(BIN)/aggregator serve --host $(HOST) --port $(PORT)

# Two test processes: the suite waits on servers, browsers and subprocesses
# as much as it computes. TEST_PROCESSES=0 runs it in one.
TEST_PROCESSES ?= 2

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest --numprocesses=$(TEST_PROCESSES) $(PYTEST_ARGS)

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed; set PYTHON=python3.x") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(VENV)/.installed: $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python requirements-dev.lock pyproject.toml
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	@touch $(VENV)/.installed $@

# Regenerate the lock files after changing the ranges in pyproject.toml.
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet "pip-tools>=7.4"
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-find-links --no-emit-index-url --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-find-links --no-emit-index-url --extra test --output-file requirements-dev.lock pyproject.toml

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
