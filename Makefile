# Every target creates .venv and installs what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DIR ?= .demo

.PHONY: test fuzz demo bench bench-xl lint clean catalogs catalogs-hant

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

# issue 26: the same targets at one million records (builds bench/.work/xl once: long)
bench-xl: $(STAMP)
	$(BIN)/pip install --quiet check-jsonschema
	$(BIN)/python bench/bench_xl.py

lint: $(STAMP)
	$(BIN)/pip install --quiet ruff import-linter
	$(BIN)/ruff check tools tests bench hatch_build.py
	$(BIN)/lint-imports

# the message catalogs (docs/decisions.md "Interface languages"): the template re-extracted
# from the code, both .po files updated from it (new messages empty, to be translated; the
# test refuses them until they are), the .mo files compiled (committed: no build step)
LOCALE := tools/dangan/i18n/locale
catalogs: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --omit-header \
		-o $(LOCALE)/dangan.pot .
	$(BIN)/pybabel update -i $(LOCALE)/dangan.pot -d $(LOCALE) -D dangan --no-fuzzy-matching \
		--ignore-obsolete --no-wrap
	# the template has no header (no date to change on every run): the catalogs keep a fixed
	# date instead of the clock's, so that re-running this on unchanged code changes no file
	sed -i 's/^"POT-Creation-Date: .*"$$/"POT-Creation-Date: 2026-12-06 00:00+0000\\n"/' \
		$(LOCALE)/*/LC_MESSAGES/dangan.po
	$(BIN)/pybabel compile -d $(LOCALE) -D dangan --statistics

# a first draft of the traditional catalog from the simplified one (OpenCC, s2tw), for the
# messages the traditional catalog does not have yet; review it before committing
catalogs-hant: $(STAMP)
	$(BIN)/pip install --quiet 'opencc>=1.1'
	$(BIN)/python tools/hant_draft.py $(LOCALE)

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(DEMO_DIR)-backups .pytest_cache
