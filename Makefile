# Two commands matter (see README):  `make serve`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Entry points (`python -m app`, training, evaluation) restart themselves on tcmalloc
# (configs/process.py); pytest is not one of them, so the test run gets it here.
TCMALLOC = $(shell $(PYTHON) -c 'from configs.process import find_tcmalloc; print(find_tcmalloc() or "")')
export LD_PRELOAD = $(TCMALLOC)
PYTEST_ARGS ?=
SLOW_MARKER ?= slow

.PHONY: serve test test-slow setup setup-dev system-deps system-deps-runtime apt-install

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime          ## runtime install (+ tcmalloc when root)
	-@$(MAKE) --no-print-directory system-deps-runtime
setup-dev: $(VENV)/.dev          ## runtime + test tools

# Debian packages: tcmalloc (fast CPU allocator, every command) and, for the tests, chromium
# (browser tests). Needs root; otherwise the commands say what to install.
APT_RUNTIME := libtcmalloc-minimal4
APT_TEST := chromium

system-deps-runtime:
	@$(MAKE) --no-print-directory apt-install PKGS="$(if $(TCMALLOC),,$(APT_RUNTIME))"

system-deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(if $(TCMALLOC),,$(APT_RUNTIME)) $(if $(shell command -v chromium),,$(APT_TEST))"

apt-install:
	@if [ -z "$(strip $(PKGS))" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PKGS); \
	else echo "system packages missing: install them with: apt-get install $(PKGS)"; fi

serve: setup                     ## start the web app on http://localhost:7860 (shipped model)
	$(PY) -m app

test: setup-dev                  ## the default (fast) test suite
	-$(MAKE) --no-print-directory system-deps
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup-dev             ## long tests: real-data training, load test, Docker
	$(PY) -m pytest -m "$(SLOW_MARKER)" $(PYTEST_ARGS)
