# The two commands of the README:
#   make demo   set up (first time) and run the demo chain on the embedded synthetic data
#   make test   set up (first time) and run the test suite
# Everything installs into .venv from the package registries; torch is pinned (CPU wheel).
PYTHON ?= python3
VENV   ?= .venv
PIP     = $(VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt
# On an ordinary Linux machine PyPI's torch wheel brings gigabytes of CUDA libraries; the CPU
# build comes from PyTorch's own index: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
TORCH_FIRST = $(if $(TORCH_INDEX),$(PIP) --index-url $(TORCH_INDEX) torch==2.13.0,true)

.PHONY: demo test venv clean-demo

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo-installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(TORCH_FIRST)
	$(PIP) -e '.[edge,train]'
	touch $@

$(VENV)/.dev-installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(TORCH_FIRST)
	$(PIP) -e '.[dev]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(VENV)/bin/sowcast demo $(ARGS)

# The suite runs on one pytest-xdist worker per core this process may use (nproc: its CPU
# affinity, so a container pinned to 2 cores of a large host gets 2; at most 8, for memory),
# each test module on one worker (--dist loadscope: a module's shared chain is built once, its
# tests run in file order). TEST_WORKERS=0 runs it in this process, one test at a time.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ "$$n" -gt 8 ] && n=8; echo $$n)
test: $(VENV)/.dev-installed
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadscope $(ARGS)

clean-demo:
	rm -rf data/demo
