# Chorus developer commands. `make demo` and `make test` work on a fresh machine:
# they create the virtual environment and install what is missing first.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test install system-deps web worker scheduler bench bench-smoke migrate clean

$(BIN)/chorus: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/chorus

demo: install
	$(BIN)/chorus demo

system-deps:
	@bash .ci/system-deps

test: install system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

web: install
	$(BIN)/chorus web

worker: install
	$(BIN)/chorus worker

scheduler: install
	$(BIN)/chorus scheduler

migrate: install
	$(BIN)/chorus db upgrade

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) instance .pytest_cache artifacts

# Every bench/ script at a tiny size, so CI notices when one stops working.
bench-smoke: install
	@for script in $$(grep -l '__name__ == "__main__"' bench/*.py); do \
		echo "== $$script --quick"; $(BIN)/python $$script --quick || exit 1; done
