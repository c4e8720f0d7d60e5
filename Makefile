# privaudit: two set-up commands on a fresh machine with Python 3.11+:  make demo  |  make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= demo

BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: test demo install bench suites clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(BENCH_STAMP)

# Benchmarks are measured, not asserted: results go to benchmarks/results/ and docs/benchmarks.md
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.free_text
	$(BIN)/python -m benchmarks.free_text --hit-rate 0.1 --name free_text_sparse
	$(BIN)/python -m benchmarks.scale
	$(BIN)/python -m benchmarks.report

# regenerate expectations/ after changing the policy or a rule (a test fails until you do)
suites: $(STAMP)
	$(BIN)/privaudit suites

demo: $(STAMP)
	$(BIN)/privaudit demo --out $(DEMO)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
