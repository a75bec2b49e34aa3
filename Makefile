# `make demo`: set up, then train, track, evaluate and render on synthetic animals.
# `make test`: set up, then run the test suite (without the long training runs marked slow).
# `make test-slow`: set up, then run only the tests marked slow.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: setup demo test test-slow

$(BIN)/posenn: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

setup: $(BIN)/posenn

demo: setup
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

test: setup
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: setup
	$(BIN)/python -m pytest -q -m slow
