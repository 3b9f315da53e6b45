# Two entry points for a fresh machine: `make book` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PROFILE ?= laptop
SMOKE   = _build/smoke

.PHONY: setup book test smoke-book unit nbval clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[book,test,cluster]"
	touch $@

# Execute every chapter (laptop profile by default) into book/ and build _build/html.
book: setup
	$(BIN)/scaling-core book --profile $(PROFILE)

# The test suite: unit tests, the smoke-profile book (built once, checked in a headless
# browser with the network off), and nbval on the executed smoke notebooks.
test: setup smoke-book unit nbval

smoke-book: setup
	rm -rf $(SMOKE)
	$(BIN)/scaling-core book --profile smoke --staging $(SMOKE)

unit: setup
	SCALING_CORE_SMOKE_BOOK=$(SMOKE) $(BIN)/pytest -q

nbval: setup
	$(BIN)/pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env $(SMOKE)/book/*.ipynb

clean:
	rm -rf _build book/*.ipynb
