# Two commands on a fresh machine: `make demo` and `make test`. Each installs into .venv first if needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-min bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/astrotorch demo --out demo_run

test: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m pytest -q tests

# The declared floors (constraints-min.txt) in their own venv, then the fast tests.
VENV_MIN := .venv-min
$(VENV_MIN)/.installed: pyproject.toml constraints-min.txt
	test -x $(VENV_MIN)/bin/python || $(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install -q --upgrade pip
	$(VENV_MIN)/bin/python -m pip install -q -c constraints-min.txt -e ".[dev]"
	touch $(VENV_MIN)/.installed

test-min: $(VENV_MIN)/.installed
	$(VENV_MIN)/bin/python -m pytest -q -m "not slow and not realdata" tests

bench: $(STAMP)
	$(PY) -m bench.vs_astronn

clean:
	rm -rf $(VENV) $(VENV_MIN) demo_run runs .pytest_cache
