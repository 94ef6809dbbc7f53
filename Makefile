# Two commands matter (see README):  `make serve`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TCMALLOC := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4))
export LD_PRELOAD := $(TCMALLOC)
PYTEST_ARGS ?=
SLOW_MARKER ?= slow

.PHONY: serve test test-slow setup setup-dev system-deps

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime          ## runtime install only
setup-dev: $(VENV)/.dev          ## runtime + test tools

# Debian packages: tcmalloc (fast CPU allocator) and chromium (browser tests). Needs root.
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  pkgs=""; [ -e /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ] || pkgs="$$pkgs libtcmalloc-minimal4"; \
	  command -v chromium >/dev/null || pkgs="$$pkgs chromium"; \
	  if [ -n "$$pkgs" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs; fi; \
	else echo "system-deps: not root or no apt-get; install libtcmalloc-minimal4 and chromium yourself"; fi

serve: setup                     ## start the web app on http://localhost:7860 (shipped model)
	$(PY) -m app

test: setup-dev                  ## the default (fast) test suite
	-$(MAKE) --no-print-directory system-deps
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup-dev             ## long tests: real-data training, load test, Docker
	$(PY) -m pytest -m "$(SLOW_MARKER)" $(PYTEST_ARGS)
