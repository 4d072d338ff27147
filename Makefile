# OML - one-command set-up, tests, demo and benchmarks.
# `make test` and `make demo` install everything they need (idempotently).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.oml-installed
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup python-env node-env solc debian-text browser test test-chain test-fingerprint forge-test forge-test-ci \
        lint demo explorer deploy \
        bench-gas bench-fingerprint bench-serve bench-explorer lock clean

setup: python-env node-env solc debian-text browser

# Python: torch first and pinned (a CPU wheel lies on disk; an unpinned torch
# pulls a multi-GB CUDA build), then the whole locked working set, then us.
python-env: $(STAMP)
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.lock
	$(PIP) install -q --no-deps -e .
	touch $@

node-env: node_modules/.oml-installed
node_modules/.oml-installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# py-solc-x / ape / forge all use the same compiler: native where it can be
# downloaded, else an adapter over the npm build (toolchain/install_solc.py).
solc: python-env node-env
	$(PY) toolchain/install_solc.py

# Real English text for the project's own base models (see fingerprinting/data.py).
debian-text:
	@$(PY) -c "import fingerprinting.data as d; raise SystemExit(0 if d.text_sources_present() else 1)" 2>/dev/null || \
	  { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$($(PY) -c "import fingerprinting.data as d; print(' '.join(d.DEBIAN_PACKAGES))"); }

# Headless Chromium for the explorer's browser test (tests/test_explorer_browser.py): Debian's package.
browser:
	@test -x /usr/bin/chromium || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# CI-strength forge run (fuzz 5,000 runs, invariants 500 runs x depth 64: foundry.toml [profile.ci]);
# `make forge-test` keeps the quick default profile for local loops.
test: setup
	$(PY) -m pytest tests -q
	$(MAKE) forge-test-ci
	$(MAKE) lint

test-chain: setup
	$(PY) -m pytest tests -q -m "not ml"

test-fingerprint: setup
	$(PY) -m pytest tests -q -m ml

forge-test: setup
	forge test --offline

forge-test-ci: setup
	FOUNDRY_PROFILE=ci forge test --offline

# Slither over contracts/ (slither.config.json): fails on any High or Medium finding; accepted false
# positives carry an inline `slither-disable-next-line <detector> -- reason`. crytic-compile builds with
# `forge build` (foundry.toml's compiler and remappings) into cache/slither, apart from forge test's
# out/ (it runs `forge clean` first). toolchain/run_slither.py works around a Slither parser bug;
# --disallow-partial fails the lint if Slither cannot fully analyse a contract.
lint: setup
	FOUNDRY_OUT=cache/slither/out FOUNDRY_CACHE_PATH=cache/slither/forge $(PY) toolchain/run_slither.py . --disallow-partial

demo: setup
	$(PY) -m oml_chain.demo

# The OML Explorer on a demo world (oml_chain/explorer/world.py): anvil + `oml explorer serve` on
# http://127.0.0.1:8710, left running until Ctrl-C.
explorer: setup
	$(PY) -m oml_chain.explorer.demo

# Deploy OML with ape (scripts/deploy.py) and record it in deployments.json: on a local anvil that ape starts,
# or on NETWORK (e.g. NETWORK=ethereum:local:http://127.0.0.1:8545; ACCOUNT=<ape alias> off local chains);
# DEPLOY_ARGS passes anything else to `ape run deploy` (e.g. DEPLOY_ARGS="--deployments other.json").
deploy: setup
	$(VENV)/bin/ape run deploy $(if $(NETWORK),--network $(NETWORK)) $(if $(ACCOUNT),--account $(ACCOUNT)) $(DEPLOY_ARGS)

bench-gas: setup
	$(PY) benchmarks/bench_gas.py

# Utility, persistence and false positives (hours on 2 cores: BENCH_ARGS="--quick" for a smoke run), then
# stealth AUROCs and evasion curves (benchmarks/bench_fingerprint_stealth.py, minutes).
bench-fingerprint: setup
	$(PY) benchmarks/bench_fingerprint.py $(BENCH_ARGS)
	$(PY) benchmarks/bench_fingerprint_stealth.py --preset tiny
	$(PY) benchmarks/bench_fingerprint_stealth.py --preset demo

bench-serve: setup
	$(PY) benchmarks/bench_serve.py

# Explorer: index 100,000 events on anvil (bench-only emitter of OML's events) and time page renders over HTTP.
bench-explorer: setup
	$(PY) benchmarks/bench_explorer.py

# Re-pin the environment after a deliberate upgrade.
lock:
	$(PIP) freeze --exclude-editable | grep -vi '^oml' | sed 's/^torch==\(.*\)+cpu/torch==\1/' > requirements.lock

clean:
	rm -rf out build .pytest_cache cache
