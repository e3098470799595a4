# Each target installs what it needs first (a .venv in the checkout), so a fresh clone needs only `make`.
VENV ?= .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime# the service's dependencies only: what `make serve` needs
INSTALLED := $(VENV)/.installed# and the development tools: tests, linters, notebook

.PHONY: help install tools serve test e2e lint fmt check wheel-check bench deploy-check image-check airports data readme figures notebook notebook-clear clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(RUNTIME): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e .
	touch $(RUNTIME)

$(INSTALLED): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(INSTALLED) $(RUNTIME)

install: $(INSTALLED)  ## create .venv and install the project with its dev tools

tools:  ## curl, kubectl and the data-transfer clients for the tests, from Debian's packages when missing
	scripts/ensure_tools.sh curl:curl kubectl:kubernetes-client wget:wget davix-get:davix aria2c:aria2 \
		gfal-copy:gfal2-util-scripts -:gfal2-plugin-http -:python-is-python3

serve: $(RUNTIME)  ## install the runtime dependencies only, then serve on 127.0.0.1:8000 with the embedded data
	$(VENV)/bin/locator serve

test: $(INSTALLED) tools  ## run the whole test suite (unit, HTTP and end-to-end)
	$(PY) -m pytest -n auto

e2e: $(INSTALLED) tools  ## only the tests that start real processes
	$(PY) -m pytest -n auto -m e2e

lint: $(INSTALLED)  ## ruff, mypy and the import contracts (lint-imports, pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

fmt: $(INSTALLED)  ## format and fix what ruff can
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: lint test wheel-check  ## what CI runs

wheel-check:  ## build the wheel, install it into a fresh venv, serve and evaluate from an empty directory
	scripts/check_wheel.sh

bench: $(INSTALLED)  ## run every benchmark in bench/ (about 8 minutes; installs wrk and siege with apt-get if missing)
	$(PY) -m bench.run_all $(BENCH_ARGS)

deploy-check: $(INSTALLED) tools  ## render the k8s overlays (kubectl kustomize), validate them offline, lint the Dockerfile
	$(PY) -m pytest tests/test_deploy.py

image-check:  ## replay deploy/Dockerfile without Docker: install, build the airports store, serve read-only
	bash deploy/check-image-steps.sh

airports: $(INSTALLED)  ## rebuild the airports key-value store from data/airports.csv
	$(VENV)/bin/locator airports load

data: $(INSTALLED)  ## rebuild data/*.csv from ../shared/data (maintainers)
	$(PY) -m scripts.build_data

readme: $(INSTALLED)  ## regenerate the example outputs of README.md and docs/ by running their commands (a test checks them)
	$(PY) -m scripts.readme

figures: $(INSTALLED)  ## redraw docs/federation.png, the README's map, from the shipped data
	$(PY) -m scripts.figures

notebook: $(INSTALLED)  ## run the analysis notebook; HTML with outputs in build/notebook/, figures beside it
	cd notebooks && ../$(VENV)/bin/jupyter nbconvert --to html --execute cache_decisions.ipynb --output-dir ../build/notebook

notebook-clear: $(INSTALLED)  ## strip the notebook's outputs before committing it
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/cache_decisions.ipynb

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
