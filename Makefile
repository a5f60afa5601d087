# Everything a fresh clone needs: `make test` builds .venv (torch first, pinned exactly), then runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
TORCH := torch==2.13.0

.PHONY: test lint bench-memory clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

# Re-runs whenever pyproject.toml changes: the stamp is older than it.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install $(TORCH)
	$(PY) -m pip install -e '.[dev]'
	touch $@

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check app pipelines tests benchmarks

bench-memory: $(STAMP)
	$(PY) -m pip install -e '.[dev,bench]'
	$(PY) benchmarks/memory_engine.py

clean:
	rm -rf $(VENV)
