# Two commands on a fresh machine: `make run` opens the console, `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_EXTRAS ?= dev,torch
TEST_EXTRAS ?= dev,triton

.PHONY: run test clean

# One stamp per set of extras, so that `make test` after `make run` installs what the tests need.
$(VENV)/.installed-%: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[$*]'
	touch $@

run: $(VENV)/.installed-$(RUN_EXTRAS)
	$(VENV)/bin/rearena

test: $(VENV)/.installed-$(TEST_EXTRAS)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
