# Two commands do all of the set-up (see README):
#   make demo   installs everything into .venv and runs the main job on the embedded broker
#   make test   installs everything into .venv and runs the whole test suite
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	$(VENV)/bin/python -m pip check
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/qstream demo --tasks 50 --json demo-summary.json

test: $(STAMP)
	$(VENV)/bin/python -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy qstream/core qstream/sim qstream/backends qstream/solvers qstream/quantum

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
