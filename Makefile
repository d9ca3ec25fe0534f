# The two front-door commands: `make book` and `make test`. Both set up .venv from requirements.txt first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JB_FLAGS := -W -n --keep-going

.PHONY: book test lint pages chromium bubblewrap postgresql clean benchmark

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The exercise pages are the student versions that nbgrader generates from the one source of each assignment.
pages: $(STAMP)
	$(BIN)/python -m autograder pages book/exercises

# The execution cache keys on each chapter's own code only: when lossutils changes, every chapter runs again (Sphinx
# re-reads only changed sources, so its environment goes too).
LOSSUTILS_SHA = $(shell cat lossutils/*.py lossutils/*/*.py | sha256sum | cut -c1-16)

book: pages
	@test "$$(cat _build/.lossutils-sha 2>/dev/null)" = "$(LOSSUTILS_SHA)" || rm -rf _build/.jupyter_cache _build/.doctrees
	$(BIN)/jupyter-book build . $(JB_FLAGS) || { echo "Execution reports: _build/html/reports" >&2; exit 1; }
	@echo "$(LOSSUTILS_SHA)" > _build/.lossutils-sha

# Debian's chromium drives the browser test (Playwright's own browser download cannot work offline).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Debian's bubblewrap is the sandbox the students' code runs in (autograder/sandbox.py).
bubblewrap:
	@command -v bwrap >/dev/null || { apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; }

# Debian's postgresql: the tests start a server of their own from it (tests/servers.py), for the shared gradebook.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }

test: book chromium bubblewrap postgresql
	$(BIN)/python -m pytest -n 2 --dist loadscope

lint: $(STAMP)
	$(BIN)/ruff check lossutils autograder tests book/_ext

benchmark: $(STAMP)
	$(BIN)/python -m autograder.benchmark

clean:
	rm -rf _build book/exercises/*.ipynb
