# Two entry points for a fresh machine: `make book` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PROFILE ?= laptop
SMOKE   = _build/smoke
SMOKE_CACHE ?= $(or $(SCALING_CORE_CACHE),$(HOME)/.cache/scaling_core)

.PHONY: setup book test smoke-book unit nbval clean gpu-bundle gpu-bundle-check

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

# The GPU bundle (.bundle/, ignored): wheels and pre-built data for a bare GPU machine, and run.sh.
gpu-bundle: setup
	$(BIN)/python -m scaling_core.bundle build

# The bundle's path end to end on this CPU at the smoke profile, into a scratch folder.
gpu-bundle-check: setup
	test -x .bundle/run.sh || $(BIN)/python -m scaling_core.bundle build --no-wheels
	rm -rf _build/gpu-check
	PROFILE=smoke DEVICE=cpu NO_WHEELS=1 PYTHON=$(BIN)/python OUT=_build/gpu-check CACHE=$(SMOKE_CACHE) \
		WORK=$(CURDIR)/_build/gpu-check/run FROM=$(CURDIR)/_build/gpu-check/none bash .bundle/run.sh 600
	SCALING_CORE_RESULTS=$(CURDIR)/_build/gpu-check/run/results $(BIN)/scaling-core chapter methodology \
		-p profile smoke --output-dir _build/gpu-check

clean:
	rm -rf _build book/*.ipynb
