# Kenshu: `make run` serves the demo, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export LMS_INSTANCE_PATH ?= $(CURDIR)/instance
CATALOGUES := lms/i18n/translations

.PHONY: run test install install-test catalogues assets lint messages bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed catalogues
install-test: $(VENV)/.installed-test catalogues

# Compiled catalogues (.mo) are built here from the .po files, never committed.
catalogues: $(VENV)/.installed
	$(BIN)/pybabel -q compile -d $(CATALOGUES)

# Front-end libraries from the npm registry (package.json): the 360° panorama viewer is
# bundled into lms/static/vendor/, which like node_modules/ is never committed.
VENDOR := lms/static/vendor
assets: $(VENDOR)/.built

$(VENDOR)/.built: package.json package-lock.json lms/tours/assets/panorama.js
	npm ci --no-audit --no-fund --loglevel=error
	node_modules/.bin/esbuild lms/tours/assets/panorama.js --bundle --minify --format=iife \
		--target=es2019 --log-level=warning --outfile=$(VENDOR)/panorama.js
	touch $@

run: install assets
	$(BIN)/lms init
	$(BIN)/lms demo
	$(BIN)/lms serve --host 127.0.0.1 --port 5000

test: install-test assets
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check lms tests

# Speed and size figures (see bench/README.md); PostgreSQL when LMS_TEST_DATABASE_URL is set.
bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/heartbeat_load.py --database sqlite
	if [ -n "$$LMS_TEST_DATABASE_URL" ]; then $(BIN)/python bench/heartbeat_load.py --database postgresql --database-url "$$LMS_TEST_DATABASE_URL"; fi
	if [ -f bench/lesson_page_size.py ]; then $(BIN)/python bench/lesson_page_size.py; fi
	$(BIN)/python bench/export_completions.py --database sqlite
	if [ -n "$$LMS_TEST_DATABASE_URL" ]; then $(BIN)/python bench/export_completions.py --database postgresql --database-url "$$LMS_TEST_DATABASE_URL"; fi

# Refresh the message template and merge it into every catalogue.
messages: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -o lms/i18n/messages.pot .
	$(BIN)/pybabel -q update -N -i lms/i18n/messages.pot -d $(CATALOGUES)

clean:
	rm -rf $(VENV) instance .pytest_cache node_modules $(VENDOR)
