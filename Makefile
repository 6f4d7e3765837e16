# Two commands do everything on a fresh machine:
#   make run    set up .venv (pinned set) and run the pipeline on the taxi data
#   make test   set up .venv and run lint, format check and the test suite
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test browser test-fast lint format lock clean bench bench-pipelines bench-serving bench-quality bench-training bench-scale bench-gate-trust bench-composed bench-slices bench-intervals bench-evaluator bench-scoring bench-workers bench-distributed bench-fixed-costs bench-plot

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@bash scripts/setup_venv.sh $(VENV)
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/multihead run $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Two workers, one test file each at a time (module fixtures stay per file).
TEST_WORKERS ?= 2

# The report test renders a page in headless Chromium: installed when missing.
browser:
	@bash scripts/browser.sh

test: lint browser
	$(VENV)/bin/pytest -q -ra --durations=15 -n $(TEST_WORKERS) --dist loadfile tests

# Unit and executor tests only (no end-to-end pipeline runs).
test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -m "not e2e" tests

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Re-resolve the pinned set from pyproject.toml's direct pins.
lock: $(STAMP)
	@bash scripts/lock.sh $(VENV)

# Benchmarks (docs/benchmarks.md): each prints RESULT lines with ratios
# measured side by side. They share one pipeline run under .bench/.
bench: bench-pipelines bench-serving bench-quality bench-training bench-scale bench-gate-trust bench-composed bench-slices bench-intervals bench-evaluator bench-scoring bench-workers bench-distributed bench-fixed-costs bench-plot

bench-pipelines: $(STAMP)
	$(PY) -m bench.pipelines $(ARGS)

bench-plot: $(STAMP)
	$(PY) -m bench.plot

bench-serving: $(STAMP)
	$(PY) -m bench.serving $(ARGS)

bench-quality: $(STAMP)
	$(PY) -m bench.quality $(ARGS)

bench-training: $(STAMP)
	$(PY) -m bench.training $(ARGS)

bench-scale: $(STAMP)  # about 6 minutes: the pipeline on 15k, 150k and 1.5M rows (ARGS="--sizes 15000,1500000,15000000" for 15M)
	$(PY) -m bench.scale $(ARGS)

bench-gate-trust: $(STAMP)  # about 15 minutes: 9 retraining runs
	$(PY) -m bench.gate_trust $(ARGS)

bench-composed: $(STAMP)
	$(PY) -m bench.composed $(ARGS)

bench-evaluator: $(STAMP)  # the evaluator's ms per eval row, stock TFMA vs this project's
	$(PY) -m bench.evaluator $(ARGS)

bench-fixed-costs: $(STAMP)  # about 3 minutes: Beam's pickles and the CLI's imports, each fix side by side
	$(PY) -m bench.fixed_costs $(ARGS)

bench-slices: $(STAMP)  # about 15 minutes: the evaluator with and without slices, 15k and 1.5M rows
	$(PY) -m bench.slices $(ARGS)

bench-intervals: $(STAMP)  # about 10 minutes: standard errors on whole batches against TFMA's per-example ones, 12 seeds
	$(PY) -m bench.intervals $(ARGS)

bench-scoring: $(STAMP)  # about 10 minutes: multihead predict vs K single-head jobs, 150k and 1.5M rows
	$(PY) -m bench.scoring $(ARGS)

bench-workers: $(STAMP)  # about 8 minutes: Beam steps in-process vs on 2 worker processes
	$(PY) -m bench.workers $(ARGS)

bench-distributed: $(STAMP)  # about 3 minutes: the training loop in one process vs on 2 workers
	$(PY) -m bench.distributed $(ARGS)

clean:
	rm -rf $(VENV) .multihead
