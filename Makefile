# The two commands of the contract: `make demo` and `make test`. Each installs what it
# needs (uv from PyPI if absent, then the locked environment) before running.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export UV_PYTHON_DOWNLOADS := never
# Compile every installed module to bytecode at install time: where PYTHONDONTWRITEBYTECODE is
# set (this machine, many containers) nothing is ever cached otherwise, and every process
# (each command, flow run, worker child, test) recompiles Prefect, pandas and GX from source:
# `import prefect` 11-13 s instead of 5 s, great_expectations 38-41 s instead of 17-19 s.
export UV_COMPILE_BYTECODE := 1

.PHONY: uv setup browser postgres lint typecheck check demo dev test test-fast e2e screenshots bench bench-quick \
	bench-multi-run bench-extra clean

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
	  python3 -m pip install --quiet --user uv || \
	  python3 -m pip install --quiet --user --break-system-packages uv || \
	  python3 -m pip install --quiet uv

setup: uv
	$(UV) sync --frozen --extra dev --quiet

# The end-to-end test opens the live Prefect UI in headless Chromium (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)); } || \
	  echo "no chromium and cannot install it: the e2e browser check will fail (apt-get install chromium)"

demo: setup
	$(UV) run --frozen revenue demo

# The whole system locally: Prefect server + UI on PORT (default 4200), every deployment
# served from one process, demo data, the landing watcher. Ctrl-C stops it all.
PORT ?= 4200
dev: setup
	$(UV) run --frozen revenue dev --port $(PORT)

# The deployments' end-to-end test runs the Prefect server on PostgreSQL, whose schema needs
# pg_trgm: pgserver's build lacks it, Debian's postgresql package has it.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "$$TEST_PREFECT_DATABASE_URL" ] || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    (apt-get install -y -qq postgresql >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq postgresql >/dev/null 2>&1)); } || \
	  echo "no PostgreSQL binaries and cannot install them: the deployments e2e test will fail (apt-get install postgresql)"

# Lint (ruff: pycodestyle, pyflakes, bugbear, import order; the format is ruff's) and types
# (mypy over revenue/, flows/, blocks/, cli/, bench/, testkit/): both run before the tests.
lint: setup
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: setup
	$(UV) run --frozen mypy

# The quick loop: lint, types and the unit tests (no server, no database). 37 s here; 80 s
# the first time in a fresh clone (installing the environment, a cold mypy).
check: lint typecheck
	$(UV) run --frozen pytest tests/unit -q

# Two pytest workers (pytest-xdist): each end-to-end module runs whole on one worker (its
# servers and workers mostly wait), the other tests are shared out one by one. 16 min on a
# fresh clone on the 2-core machine, 784 tests (bench/README.md, "How long the tests take").
test: setup browser postgres lint typecheck
	$(UV) run --frozen pytest -n 2 --dist loadgroup

test-fast: setup
	$(UV) run --frozen pytest -m "not slow and not e2e"

e2e: setup browser postgres
	$(UV) run --frozen pytest tests/e2e

# Re-takes docs/ui-*.png: runs the e2e test (server, deploy, worker, runs) and points
# headless Chromium (apt-get install chromium) at the live UI before it stops.
screenshots: setup browser
	REVENUE_E2E_SCREENSHOTS=docs $(UV) run --frozen pytest tests/e2e

# The benchmark also runs the Dagster pipeline this project replaces: the `bench` extra.
# Each prints its path first and its figures scenario by scenario; bench/results/<UTC
# timestamp>.json is rewritten after each scenario ("finished": false until the end). Pass
# options with BENCH_ARGS, e.g. BENCH_ARGS="--database-url postgresql://postgres@127.0.0.1/postgres".
# `make bench`: every scenario but the multi-run one and the two of `make bench-extra`.
BENCH_ARGS ?=
bench: uv
	$(UV) sync --frozen --extra dev --extra bench --quiet
	$(UV) run --frozen --extra dev --extra bench python -m bench $(BENCH_ARGS)

# The judged targets only (sizes 10k and 1M, the 30-day backfill, whole process vs Dagster,
# judged commands, scaling over 30 and 90 days). About 5 minutes on 2 cores.
bench-quick: uv
	$(UV) sync --frozen --extra dev --extra bench --quiet
	$(UV) run --frozen --extra dev --extra bench python -m bench --judged $(BENCH_ARGS)

# The two reported figures of earlier issues the full run leaves out: `revenue verify` over a
# range and the watcher's heal pass, each over 365 published days.
bench-extra: uv
	$(UV) sync --frozen --extra dev --extra bench --quiet
	$(UV) run --frozen --extra dev --extra bench python -m bench --only scaling,verify_range,heal_pass $(BENCH_ARGS)

# Single-run vs multi-run backfill through a live Prefect server on Postgres and two workers.
bench-multi-run: uv postgres
	$(UV) sync --frozen --extra dev --extra bench --quiet
	$(UV) run --frozen --extra dev --extra bench python -m bench.multi_run $(BENCH_ARGS)

clean:
	rm -rf .revenue .pytest_cache
