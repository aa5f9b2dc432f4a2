# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= tflite,openvino,netron,tensorboard,fleet,dev
comma  := ,
# One stamp per set of extras: `EXTRAS=dev make test` installs what it names.
STAMP  := $(VENV)/.deploykit-installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: demo test test-slow test-gpu lint install modelopt-venv clean

demo: $(STAMP)
	$(BIN)/deploykit demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -m gpu

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

# NVIDIA Model Optimizer for benchmarks/placement.py --modelopt: it pins its own
# onnxruntime-gpu, so it gets a venv of its own (deploykit's stays as it is).
MODELOPT_VENV ?= .venv-modelopt
modelopt-venv: $(MODELOPT_VENV)/.installed

$(MODELOPT_VENV)/.installed:
	$(PYTHON) -m venv $(MODELOPT_VENV)
	$(MODELOPT_VENV)/bin/python -m pip install -q "nvidia-modelopt[onnx]==0.47.0"
	touch $@

clean:
	rm -rf $(VENV) $(MODELOPT_VENV) out results .pytest_cache
