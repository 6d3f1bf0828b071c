# Two commands for a newcomer: `make serve` and `make test`. Both build the environment first.
PYTHON ?= /usr/bin/python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: all env data serve test lint quick clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned to the CPU build that lies on disk; an unpinned torch would pull a CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,eval,serve]'
	touch $(STAMP)

env: $(STAMP)

# Fashion-MNIST comes from Debian's dataset-fashion-mnist package.
data:
	@test -f $(FMNIST)/t10k-images-idx3-ubyte.gz || \
	  { (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 || \
	    echo "warning: could not install dataset-fashion-mnist; tests that need it will be skipped"; }

serve: env data
	$(BIN)/matt-serve

lint: env
	$(BIN)/ruff check .

test: env data lint
	$(BIN)/python -m pytest -q

quick: env
	$(BIN)/python -m pytest -q -m 'not slow'

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
