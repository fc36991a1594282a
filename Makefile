# The commands the README names.  Everything runs from a virtual environment in .venv,
# created on first use; PyTorch's CPU build is installed before the project so that the
# project's torch requirement never pulls a CUDA build of several GB.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKSPACE ?= $(CURDIR)/.workspace
TORCH ?= torch==2.13.0
# ISLP's wheel ships the demo's finance, retail, mobility and survival tables as CSV files
# (read as files, never imported); --no-deps leaves out its own heavy requirements
# (pytorch_lightning, lifelines, pygam), which is why it is not in the demo extra.
ISLP ?= ISLP==0.6.0
# JupyterHub's proxy, for the Hub-service test (tests/hub/): from npm, into .venv/chp.
CHP ?= configurable-http-proxy@5.3.0
CHP_PREFIX := $(VENV)/chp
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed-stamp
# Debian's package: the browser test drives it with Playwright (no browser download).
CHROMIUM ?= /usr/bin/chromium

.PHONY: install labextension demo lab lint test test-e2e bench clean

$(STAMP): pyproject.toml labextension/package.json labextension/yarn.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps '$(ISLP)'
	npm install --prefix $(CHP_PREFIX) --no-audit --no-fund --silent '$(CHP)'
	$(MAKE) labextension
	touch $(STAMP)

# The JupyterLab extension (TypeScript in labextension/): built with jlpm (its package cache
# in labextension/.yarn) into lepton_lab/labextension, and linked into .venv's share/jupyter.
# `pip install -e` has usually built it already (hatch-jupyter-builder: jlpm install, then
# build:prod, when the build is missing or older than src/): the packages are installed
# again only when package.json, yarn.lock or .yarnrc.yml is newer than yarn's record of the
# last install (node_modules/.yarn-state.yml), and it is built only when missing.
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/lepton-lab
LABEXT_INSTALLED := labextension/node_modules/.yarn-state.yml
JLPM := PATH="$(abspath $(BIN)):$$PATH" jlpm
$(LABEXT_INSTALLED): labextension/package.json labextension/yarn.lock labextension/.yarnrc.yml
	cd labextension && $(JLPM) install
	touch $@
labextension: $(LABEXT_INSTALLED)
	test -f lepton_lab/labextension/static/style.js || (cd labextension && $(JLPM) build:prod)
	rm -rf $(LABEXT_LINK) && mkdir -p $(dir $(LABEXT_LINK))
	ln -s $(CURDIR)/lepton_lab/labextension $(LABEXT_LINK)

install: $(STAMP)  ## Create .venv and install the project with its test tools.

demo: install  ## Seed .workspace with real datasets, run template jobs, promote, re-run.
	$(BIN)/lepton-lab kernels install
	LEPTON_LAB_HOME=$(WORKSPACE) $(BIN)/lepton-lab demo

lab: install  ## JupyterLab on the demo workspace, opening its welcome notebook.
	test -f $(WORKSPACE)/catalog.db || $(MAKE) demo
	LEPTON_LAB_HOME=$(WORKSPACE) $(BIN)/lepton-lab lab

lint: install  ## ruff (lint and format check) and mypy; the extension's prettier, eslint and jest.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd labextension && $(JLPM) lint && $(JLPM) test --silent

test: lint  ## Lint, type-check, then the whole test suite.
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-e2e: install  ## The browser test: the welcome notebook run in JupyterLab, in headless Chromium.
	@test -x $(CHROMIUM) || { \
	    echo "test-e2e: no Chromium at $(CHROMIUM); installing Debian's chromium package"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	        && test -x $(CHROMIUM); \
	} || { \
	    echo "test-e2e: could not install Chromium: as root run 'apt-get install chromium'," \
	         "or set CHROMIUM=/path/to/chromium" >&2; exit 1; \
	}
	LEPTON_LAB_CHROMIUM=$(CHROMIUM) $(BIN)/pytest tests/e2e

bench: install  ## Benchmarks: side-by-side tables against the reference tools.
	$(BIN)/python bench/datasets.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/training.py
	$(BIN)/python bench/jobs.py
	$(BIN)/python bench/ray_jobs.py
	$(BIN)/python bench/gallery.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
