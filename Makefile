# Set-up and everyday commands. `make quickstart` and `make test` are the two the README promises.
PYTHON ?= python3
VENV ?= .venv
# A CPU build of PyTorch keeps the install small; on a GPU machine use e.g. TORCH="torch".
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup quickstart test test-all bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/.installed

quickstart: setup
	$(BIN)/distill pipeline recipes/quickstart.yaml

test: setup
	$(BIN)/python -m pytest -m "not slow"

test-all: setup
	$(BIN)/python -m pytest -m ""

clean:
	rm -rf $(VENV) runs/quickstart
