# Everything a fresh clone needs: `make test` builds .venv (torch first, pinned exactly), then runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
TORCH := torch==2.13.0

.PHONY: test lint demo bench-memory bench-forecast clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

# Re-runs whenever pyproject.toml changes: the stamp is older than it.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install $(TORCH)
	$(PY) -m pip install -e '.[dev]'
	touch $@

# The demo needs memcast with its `datasets` extra; a dev install (which includes it) is reused.
DEMO_STAMP := $(VENV)/.installed-demo
$(DEMO_STAMP): pyproject.toml | $(PY)
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then echo "reusing the dev install in $(VENV)"; \
	else $(PY) -m pip install $(TORCH) && $(PY) -m pip install -e '.[datasets]'; fi
	touch $@

# The main job: train a small Titans forecaster on the bundled data, evaluate it against the
# baselines, write a forecast and plots, log everything to MLflow (sqlite:///mlflow.db here).
demo: $(DEMO_STAMP)
	$(VENV)/bin/memcast demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check app pipelines tests benchmarks

bench-memory: $(STAMP)
	$(PY) -m pip install -e '.[dev,bench]'
	$(PY) benchmarks/memory_engine.py

# Forecast accuracy on vic-elec: memcast presets vs seasonal naive, DLinear and neuralforecast (~45 min).
bench-forecast: $(STAMP)
	$(PY) -m pip install -e '.[dev,bench]'
	$(PY) benchmarks/forecast_accuracy.py

clean:
	rm -rf $(VENV)
