# Quick start: `make demo` and `make test`. Both set the environment up first (idempotent).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup test lint demo clean-env

setup:
	bash tools/setup_env.sh

test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .

demo: setup
	$(PY) tools/misc/demo.py

clean-env:
	rm -rf .venv
