# The two set-up commands of the README: `make demo` (the main job) and `make test` (every test).
# Both build the virtual environment on first use; `make test` also installs the Debian AVR toolchain
# and simulator that the firmware tests need (as root, with apt-get) when they are missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test lint system-deps bench

# setup.py builds the optional compiled EA07 (tokencore/ciphers/_ea07c.c): rebuilt when either changes.
$(STAMP): pyproject.toml setup.py tokencore/ciphers/_ea07c.c
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

# The engine's tests again on the pure-Python path: the run before uses the compiled EA07 when it was
# built (system-deps first, so the C compiler and Python headers are there when setup builds it).
ENGINE_TESTS := tests/test_vectors.py tests/test_engine_properties.py tests/test_engine_paths.py \
	tests/test_engine_fast_paths.py tests/test_decoder_scenarios.py tests/test_decoder_stateful.py \
	tests/test_token_batch.py tests/test_corruption.py tests/test_docs_engine.py

test: system-deps setup lint
	$(BIN)/pytest
	NGUVU_PURE_PYTHON=1 $(BIN)/pytest -q $(ENGINE_TESTS)

bench: setup
	$(BIN)/python benchmarks/tokens.py
