# The README's commands.  Each target does its own set-up, so a fresh machine needs nothing else.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.depthkit-installed
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: setup sysdeps demo test bench clean

setup: sysdeps $(STAMP)

sysdeps:
	@bash scripts/setup_system.sh

$(VENV)/bin/python:
	@bash scripts/make_venv.sh $(PYTHON) $(VENV)

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/depthkit demo --out out/demo

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .numba_cache out build *.egg-info
