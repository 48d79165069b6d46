# Quick start: `make demo` and `make test`. Both set the environment up first (idempotent).
PY := .venv/bin/python
# the suite on every core, at most 4 workers (pytest-xdist); --dist loadscope keeps each test
# module on one worker, so its shared trained fixtures are made once
XDIST_ARGS ?= -n auto --maxprocesses=4 --dist loadscope
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
