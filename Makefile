# privaudit: two set-up commands on a fresh machine with Python 3.11+:  make demo  |  make test
#
# Every target installs from the lock, requirements/lock.txt: the exact versions of the whole
# dependency set (all extras), the ones CI tests. `make lock` refreshes it; `make lowest` runs the
# tests on the lowest versions pyproject.toml allows. Installs use uv (its version from the lock,
# put into the virtual environment by pip), which resolves against PyPI only.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= demo
LOCK   := requirements/lock.txt
UV     := $(BIN)/uv
# the lock pins the build backend too (setuptools), so the wheel is built the same way each time
UV_INSTALL := $(UV) pip install --quiet --python $(BIN)/python --constraints $(LOCK) \
              --build-constraints $(LOCK)

BENCH_STAMP := $(VENV)/.installed-bench
BENCH_REPEAT ?= 3
LOWEST_VENV := .venv-lowest

.PHONY: test test-spark demo install bench bench-1m suites lock lock-upgrade lowest dist clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) uv

# the dev install has SQLGlot (the Spark renderer's tests need no JVM) but not PySpark: with
# PySpark 4 installed, importing Great Expectations imports pyspark.sql.connect, which exits the
# process (sys.exit(0)) when grpc is missing and __main__ has no file (pytest-xdist workers,
# python -c). make test-spark installs the spark extra in the same environment.
$(STAMP): pyproject.toml $(LOCK) | $(UV)
	$(UV_INSTALL) -e ".[dev]" sqlglot
	touch $(STAMP)

install: $(STAMP)

# in parallel (pytest-xdist), one worker per core; serially: .venv/bin/pytest -q
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto

# the Spark engine's equality with DuckDB on three generated shops (make test runs seed 0; about
# 1.5 minutes a seed on 2 cores, plus the JVM's start)
SPARK_STAMP := $(VENV)/.installed-spark
$(SPARK_STAMP): pyproject.toml $(LOCK) $(STAMP)
	$(UV_INSTALL) -e ".[dev,spark]"
	touch $(SPARK_STAMP)

test-spark: $(SPARK_STAMP)
	PRIVAUDIT_SPARK_SEEDS=0,1,2 $(BIN)/python -m pytest -q -p no:xdist tests/test_spark.py

$(BENCH_STAMP): pyproject.toml $(LOCK) $(STAMP)
	$(UV_INSTALL) -e ".[dev,spark,bench]"
	touch $(BENCH_STAMP)

# Benchmarks are measured, not asserted: results go to benchmarks/results/ and docs/benchmarks.md
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.free_text
	$(BIN)/python -m benchmarks.free_text --hit-rate 0.1 --name free_text_sparse
	$(BIN)/python -m benchmarks.speed --customers 100000 --repeat $(BENCH_REPEAT)
	$(BIN)/python -m benchmarks.report_speed
	$(BIN)/python -m benchmarks.spark --customers 10000,100000
	$(BIN)/python -m benchmarks.report

# the longer run: the same side-by-side table at 1,000,000 customers (generating the shop takes
# about 7 minutes, once: it is cached in benchmarks/cache/; a round about 5-10 minutes)
bench-1m: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.speed --customers 1000000 --repeat $(BENCH_REPEAT)
	$(BIN)/python -m benchmarks.report

# regenerate expectations/ after changing the policy or a rule (a test fails until you do)
suites: $(STAMP)
	$(BIN)/privaudit suites

# headless Chromium (Debian package, needs root) for the access package's browser check; the
# test is skipped with a reason where it is missing (the HTML parser check always runs)
browser:
	command -v chromium-headless-shell >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell; }

demo: $(STAMP)
	$(BIN)/privaudit demo --out $(DEMO)

# The lock: after changing a dependency in pyproject.toml, `make lock` (keeps every other pin);
# to take the newest releases pyproject.toml allows, `make lock-upgrade`. Every extra, every
# platform, Python 3.11 and later; resolved against PyPI.
LOCK_COMPILE := $(UV) pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
                --quiet --custom-compile-command "make lock" -o $(LOCK)
lock: | $(UV)
	$(LOCK_COMPILE)

lock-upgrade: | $(UV)
	$(LOCK_COMPILE) --upgrade

# The lower bounds in pyproject.toml are tested too: the lowest version of every direct dependency
# (dev extra) in a separate environment, then the whole test suite.
lowest: | $(UV)
	rm -rf $(LOWEST_VENV)
	$(UV) venv --quiet --python $(BIN)/python $(LOWEST_VENV)
	$(UV) pip install --quiet --python $(LOWEST_VENV)/bin/python --resolution lowest-direct \
	    -e ".[dev]"
	$(UV) pip freeze --python $(LOWEST_VENV)/bin/python > $(LOWEST_VENV)/versions.txt
	$(LOWEST_VENV)/bin/python -m pytest -q -p no:cacheprovider

# The wheel and the source distribution, as published: dist/privaudit-<version>-*.whl, .tar.gz
dist: | $(UV)
	$(UV) build --quiet --build-constraints $(LOCK) --out-dir dist

clean:
	rm -rf $(VENV) $(LOWEST_VENV) $(DEMO) dist .pytest_cache
