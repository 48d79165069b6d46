# Quick start: `make demo` and `make test`. Both set the environment up first (idempotent).
PY := .venv/bin/python
# the suite on every core, at most 4 workers (pytest-xdist); tests/conftest.py groups each test
# module on one worker (its shared trained fixtures are made once) and sends the long runs first
XDIST_ARGS ?= -n auto --maxprocesses=4 --dist loadgroup --no-loadscope-reorder
PYTEST_ARGS ?=

.PHONY: setup test lint demo clean-env

setup:
	bash tools/setup_env.sh

test: setup
	$(PY) -m pytest tests $(XDIST_ARGS) $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .

demo: setup
	$(PY) tools/misc/demo.py

clean-env:
	rm -rf .venv
