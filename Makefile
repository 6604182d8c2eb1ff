# vigia: `make demo` runs the demo site, `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DURATION ?=
SITE   ?= configs/demo.yaml
# On a Jetson, TensorRT's Python module comes with JetPack, outside any venv: the venv sees the
# system's packages there (pinned requirements still install into it and take precedence).
JETSON_RELEASE ?= /etc/nv_tegra_release
VENV_OPTIONS ?= $(if $(wildcard $(JETSON_RELEASE)),--system-site-packages)

.PHONY: venv system-packages export-venv demo test lint demo-model evaluate bench engines gpu-test clean

$(STAMP): requirements.txt requirements-nodeps.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "vigia needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1)." \
	       "Run e.g. make PYTHON=python3.12 $(MAKECMDGOALS)"; exit 1; }
	$(PYTHON) -m venv $(VENV_OPTIONS) $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

venv: $(STAMP)

# cuda-bindings' major must match the driver's CUDA major (13.x does not load on a CUDA 12
# driver): 12 on a Jetson (JetPack 6 is CUDA 12), else the major of nvidia-smi's
# "CUDA Version: NN.N" header, else 13 (no driver: e.g. the CPU machines the tests run on).
# A driver newer than 13 takes the 13 bindings (drivers run older runtimes). Override with
# e.g. `make engines CUDA_MAJOR=12`.
DETECTED_CUDA_MAJOR := $(shell if [ -e $(JETSON_RELEASE) ]; then echo 12; else \
  nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\)\..*/\1/p' | head -n 1; fi)
CUDA_MAJOR ?= $(or $(DETECTED_CUDA_MAJOR),13)
GPU_REQUIREMENTS := $(if $(filter 12,$(CUDA_MAJOR)),requirements-gpu-cu12.txt,requirements-gpu.txt)

# The tests also cover the optional backends' code that runs without a GPU: the torch backend
# (CPU build, from requirements-torch.txt) and the CUDA buffer code's bindings (for this
# machine's CUDA major; without a driver they import and report an error code per call).
TEST_STAMP := $(VENV)/.test-installed
$(TEST_STAMP): $(STAMP) requirements-torch.txt $(GPU_REQUIREMENTS)
	$(PY) -m pip install --quiet -r requirements-torch.txt -r $(GPU_REQUIREMENTS)
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
# The stamp names the CUDA major, so that another CUDA_MAJOR installs its own bindings.
GPU_STAMP := $(VENV)/.gpu-installed-cuda$(CUDA_MAJOR)
$(GPU_STAMP): $(STAMP) $(GPU_REQUIREMENTS)
	@[ "$(CUDA_MAJOR)" -ge 12 ] 2>/dev/null || { echo "CUDA_MAJOR=$(CUDA_MAJOR):" \
	  "TensorRT 10/11 and cuda-bindings need a CUDA 12 or newer driver; update the" \
	  "driver (or set CUDA_MAJOR=12 or 13 where nvidia-smi is wrong)"; exit 1; }
	@echo "CUDA $(CUDA_MAJOR): installing $(GPU_REQUIREMENTS) (another: CUDA_MAJOR=12 or 13)"
	$(PY) -m pip install --quiet -r $(GPU_REQUIREMENTS)
	rm -f $(VENV)/.gpu-installed-cuda*
	touch $@

engines: $(GPU_STAMP)
	$(PY) -m engines.build $(SITE)

# On a GPU machine with TensorRT: the demo engine against ONNX Runtime, then a 4-camera site
# on it for 20 s (engines/gpu_test.py).
gpu-test: $(GPU_STAMP)
	$(PY) -m engines.gpu_test

demo-model: $(VENV)/.train-installed
	$(PY) -m export.demo_model.train

evaluate: $(STAMP)
	$(PY) -m export.demo_model.evaluate --frames 300 --seed 12345

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
