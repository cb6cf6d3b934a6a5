# llmtriage — every target runs inside the project venv (.venv), created by `make setup`.
PY ?= .venv/bin/python
VENV ?= .venv
MODEL ?= models/default
PYTEST_ARGS ?=

.PHONY: setup data train generalisation adaptation evaluate verifier savings notebooks test test-fast check bench serve chaos clean

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -U pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[serve,train,dev]'
	touch $@

setup: $(VENV)/.installed

data: setup
	$(PY) -m llmtriage_train.data.datasets materialise

$(MODEL)/manifest.json:
	$(MAKE) train

train: setup data
	$(PY) -m llmtriage.cli train --out $(MODEL) --no-loto

# leave-one-task-out over every candidate recipe and the trivial baselines (~15-25 min on
# 2 cores); writes $(MODEL)/eval/generalisation.{json,md} and the table into $(MODEL)/report.md
generalisation: setup data
	$(PY) -m llmtriage_train.generalisation.cli --out $(MODEL)/eval

# learning curve of `llmtriage train --base` (adapt with 50-400 labelled rows) per
# left-out task (~15 min on 2 cores); writes $(MODEL)/eval/adaptation.json, docs/adaptation.md
adaptation: setup data
	$(PY) -m llmtriage_train.adaptation.curve --out $(MODEL)/eval --doc docs/adaptation.md

evaluate: setup data $(MODEL)/manifest.json
	$(PY) -m llmtriage.cli evaluate --benchmarks --model $(MODEL)

verifier: setup data
	$(PY) -m llmtriage_train.verifier --out models/verifier

savings: setup data $(MODEL)/manifest.json models/verifier/manifest.json
	$(PY) -m llmtriage_train.savings --scorer $(MODEL) --verifier models/verifier

models/verifier/manifest.json:
	$(MAKE) verifier

test: setup data
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

check: setup
	$(VENV)/bin/ruff check src training tests bench
	$(VENV)/bin/mypy

bench: setup $(MODEL)/manifest.json
	$(PY) -m bench.run --model $(MODEL)

serve: setup $(MODEL)/manifest.json
	$(PY) -m llmtriage.cli serve --model $(MODEL)

chaos: setup
	$(PY) -m pytest -q tests/chaos --chaos-long $(PYTEST_ARGS)

notebooks: setup $(MODEL)/manifest.json
	LLMTRIAGE_FIGURES=docs/tuning $(PY) -m pytest -q -m slow tests/test_notebooks.py

clean:
	rm -rf data/cache .pytest_cache .mypy_cache .ruff_cache
