# Every target creates .venv and installs what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DIR ?= .demo

.PHONY: test fuzz demo bench lint clean

$(STAMP): pyproject.toml hatch_build.py tools/dangan/_canon.c tools/dangan/_fsstat.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n auto -q
	$(BIN)/dangan -C . check --all

# the C reader and emitter under ASan and UBSan: a fixed set of inputs, ~30 s (CI runs it)
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz_canon_asan.py

demo: $(STAMP)
	rm -rf $(DEMO_DIR) $(DEMO_DIR)-backups
	$(BIN)/dangan demo $(DEMO_DIR)

bench: $(STAMP)
	$(BIN)/pip install --quiet check-jsonschema
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/pip install --quiet ruff import-linter
	$(BIN)/ruff check tools tests bench hatch_build.py
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(DEMO_DIR)-backups .pytest_cache
