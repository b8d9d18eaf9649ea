# duban — the two set-up commands are `make demo` and `make test`; each creates or updates .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: demo test lint serve bench bench-collect soak clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)  ## the main job: a whole simulated quarter for 2026Q4, end to end
	$(PY) -m flows.demo

test: $(STAMP)  ## the test suite (PostgreSQL tests run when a server is reachable; required under CI=true)
	$(PY) -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

serve: $(STAMP)  ## a local Prefect server plus all deployments served on this machine
	$(PY) -m flows.serve

bench: $(STAMP)
	$(PY) -m benchmarks.run --scale $(or $(SCALE),city)

bench-collect: $(STAMP)  ## issue 3: collecting ~2,000 unit files against python-calamine alone, same run
	$(PY) -m benchmarks.collection --scale $(or $(SCALE),2000)

soak: $(STAMP)  ## long hardening campaigns (crashes, faults, fuzzing, injection, isolation); rewrites RELIABILITY.md
	$(PY) -m hardening

clean:
	rm -rf var .pytest_cache
