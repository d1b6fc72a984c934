# The two commands of the README: `make book` and `make test`.
# Each creates the virtual environment and installs everything on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install book test lint bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

# Build the book from an empty build folder, warnings as errors.
book: $(STAMP)
	rm -rf _build
	$(BIN)/jupyter-book build . --all -W -n --keep-going
	@echo "The book is in _build/html/index.html"

# rvqlib tests, notebook hygiene, nbval on every notebook, the book build and
# the browser checks (book pages, JupyterLab): everything, in one pytest run.
# Two workers, one test file or notebook at a time each (--dist loadfile): the
# book build (which executes every chapter) runs beside nbval, one torch
# thread per process, so the two cores of CI are both busy (tests/conftest.py
# puts the build's file first, so that it starts at once). xdist re-sorts the
# files by their number of tests unless told not to: the build's file, with a
# handful of tests, then started last, and the other worker sat idle for
# minutes at the end (10 min 8 s with the re-sort, 8 min 28 s without).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check notebooks
	OMP_NUM_THREADS=1 $(BIN)/pytest tests notebooks --nbval-lax -p no:cacheprovider \
		-n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check rvqlib tests benchmarks notebooks

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps encodec==0.1.1
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf _build .pytest_cache .hypothesis
