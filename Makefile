# The Makefile is the interface. Every target works on a fresh clone: the venv target creates
# .venv and installs the project with its dev tools; generated protobuf code is made from protos/.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

PROTOS    := $(wildcard protos/alprfed/v1/*.proto)
GENERATED := $(patsubst protos/%.proto,%_pb2.py,$(PROTOS))

PYTEST_ARGS ?=
# make bench BENCH_ARGS=--quick (minutes), or parts: BENCH_ARGS="node-search fanout"
BENCH_ARGS ?=

.PHONY: all dev venv protos deploy-check browser report-screenshots lint typecheck test test-fast soak demo up bench clean distclean

all: test

venv: $(STAMP)
dev: $(STAMP) $(GENERATED)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# protoc writes the modules beside the package (alprfed/v1/) so imports need no rewriting.
$(GENERATED) &: $(PROTOS) $(STAMP)
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)
	touch $(GENERATED)

protos: $(GENERATED)

# The oversight portal's browser tests drive Debian's headless Chromium through its driver
# (tests/integration/report). Installed with apt when missing; needs root (CI runs as root).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  chromium chromium-driver fonts-dejavu-core; fi

# The screenshots of the transparency report in docs/images, taken by its browser tests.
report-screenshots: dev browser
	ALPRFED_SCREENSHOTS_DIR=docs/images $(PY) -m pytest -q \
	  tests/integration/report/test_report_browser.py -k screenshots

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: dev
	$(PY) -m pytest $(PYTEST_ARGS)

# The fault suite (tests/fault) at soak size: 60 gateway kills, 300 race rounds, 1,000,000 fuzz
# inputs per fuzzer. SOAK_JOBS pytest processes (one a core) run at once, each a share of the
# tests dealt out by their soak time (--shard I/N, tests/conftest.py), its output in
# bench/results/soak-shard-I.log; their figures, the ones docs/RELIABILITY.md quotes, are
# summed, printed and saved to bench/results/soak.json. About an hour on 2 idle cores
# (docs/RELIABILITY.md, "Fuzzer speed"). `make test` runs the same suite at CI size (minutes).
SOAK_ARGS ?=
SOAK_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SOAK_TESTS := tests/fault tests/integration/witness/test_witness_kill9.py
SOAK_SHARDS = $(shell seq 0 $$(($(SOAK_JOBS) - 1)))
soak: dev
	@mkdir -p bench/results && rm -f bench/results/soak-shard-*
	@status=0; pids=; trap 'kill $$pids 2>/dev/null' INT TERM; \
	for i in $(SOAK_SHARDS); do \
	  $(PY) -m pytest $(SOAK_TESTS) --soak --timeout=0 -q --shard $$i/$(SOAK_JOBS) $(SOAK_ARGS) \
	    > bench/results/soak-shard-$$i.log 2>&1 & pids="$$pids $$!"; \
	done; \
	for pid in $$pids; do wait $$pid || status=1; done; \
	for i in $(SOAK_SHARDS); do \
	  echo "--- shard $$i/$(SOAK_JOBS):"; grep -E '^(FAILED|ERROR)|(passed|failed|error).* in ' \
	    bench/results/soak-shard-$$i.log || tail -n 20 bench/results/soak-shard-$$i.log; \
	done; \
	$(PY) tests/faults.py $(foreach i,$(SOAK_SHARDS),bench/results/soak-shard-$(i).json) \
	  bench/results/soak.json || status=1; \
	exit $$status

# deploy/: systemd units verified and scored for hardening, the compose stack's files and
# settings checked, the image built on a base from Debian's archive and run, the compose stack
# started and queried (skipped, saying why, only where podman cannot run at all).
deploy-check: dev
	PY=$(PY) deploy/check

demo: dev
	$(VENV)/bin/alprfed demo

up: dev
	$(VENV)/bin/alprfed up

# Every target's figure beside its floor; the table is printed and saved in bench/results/.
# The first full run builds and caches 10M-row tables in bench/cache/ (see docs/PERFORMANCE.md).
bench: dev
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -f alprfed/v1/*_pb2.py alprfed/v1/*_pb2.pyi alprfed/v1/*_pb2_grpc.py
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
