# The two set-up commands of the README: `make demo` (the main job) and `make test` (every test).
# Both build the virtual environment on first use; `make test` also installs the Debian AVR toolchain
# and simulator that the firmware tests need (as root, with apt-get) when they are missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test lint system-deps bench

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/nguvu demo

system-deps:
	sh scripts/install-system-deps.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup system-deps lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/tokens.py
