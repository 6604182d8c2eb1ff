# vigia: `make demo` runs the demo site, `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DURATION ?=
SITE   ?= configs/demo.yaml

.PHONY: venv system-packages export-venv demo test lint demo-model evaluate bench engines gpu-test clean

$(STAMP): requirements.txt requirements-nodeps.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "vigia needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1)." \
	       "Run e.g. make PYTHON=python3.12 $(MAKECMDGOALS)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

venv: $(STAMP)

# The tests also cover the optional backends' code that runs without a GPU: the torch backend
# (CPU build, from requirements-torch.txt) and the CUDA buffer code's bindings.
TEST_STAMP := $(VENV)/.test-installed
$(TEST_STAMP): $(STAMP) requirements-torch.txt requirements-gpu.txt
	$(PY) -m pip install --quiet -r requirements-torch.txt -r requirements-gpu.txt
	touch $@

# Debian packages the tests need (system-packages.txt): installed when missing, or the exact
# command printed and the run stopped. `make demo` needs none.
system-packages:
	scripts/system-packages.sh

# Demo videos, rendered once from the synthetic worksite (seeds never used in training).
DEMO_VIDEOS := data/demo/gate-north.mp4 data/demo/scaffold-east.mp4

data/demo/gate-north.mp4: | $(STAMP)
	$(PY) -m pipeline.synthetic.video $@ --seed 20001 --frames 600 --size 1280x720 --fps 10

data/demo/scaffold-east.mp4: | $(STAMP)
	$(PY) -m pipeline.synthetic.video $@ --seed 20002 --frames 600 --size 640x360 --fps 10

demo: $(STAMP) $(DEMO_VIDEOS)
	$(PY) -m pipeline.run $(SITE) $(if $(DURATION),--duration $(DURATION))

test: system-packages $(TEST_STAMP)
	$(PY) -m pytest -q

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy pipeline supervisor export engines

$(VENV)/.train-installed: $(STAMP) requirements-train.txt
	$(PY) -m pip install --quiet -r requirements-train.txt
	touch $@

# The Ultralytics export extra in its own venv (.venv-export, ~5 GB: torch, torchvision,
# ultralytics): `python -m export ultralytics ...` runs there. The tests create it on first use.
export-venv:
	bash export/setup_venv.sh

# TensorRT engines for every model of $(SITE) whose backend is tensorrt or auto, built where
# missing or stale (engines/; `python -m engines.build $(SITE) --check` only reports). Where
# TensorRT is missing it says which package this machine needs (x86_64 wheel or JetPack).
$(VENV)/.gpu-installed: $(STAMP) requirements-gpu.txt
	$(PY) -m pip install --quiet -r requirements-gpu.txt
	touch $@

engines: $(VENV)/.gpu-installed
	$(PY) -m engines.build $(SITE)

# On a GPU machine with TensorRT: the demo engine against ONNX Runtime, then a 4-camera site
# on it for 20 s (engines/gpu_test.py).
gpu-test: $(VENV)/.gpu-installed
	$(PY) -m engines.gpu_test

demo-model: $(VENV)/.train-installed
	$(PY) -m export.demo_model.train

evaluate: $(STAMP)
	$(PY) -m export.demo_model.evaluate --frames 300 --seed 12345

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
