# callrec: `make run` for the demo, `make test` for the whole suite. Run as root on Debian 12.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := debootstrap sip-tester sox espeak-ng python3-venv openssh-server openssh-client chromium baresip fonts-ipafont-gothic kamailio
PYTEST_ARGS ?=
# The PostgreSQL server the database-backed tests also run against (production's database).
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: help deps venv asterisk run run-cluster test test-unit test-integration test-postgres lint clean-asterisk

help:
	@echo "make run    start Asterisk 22 and callrec in the foreground (Ctrl-C stops both)"
	@echo "make test   install what is needed, lint, and run the whole test suite"
	@echo "make lint   ruff and mypy only"
	@echo "make mutation  mutation testing of the pure rules and call flow (not in make test; about 10 min)"

# System packages from Debian (bookworm): only those missing are installed.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		case "$$missing" in *kamailio*) systemctl disable --now kamailio >/dev/null 2>&1 || true ;; esac; \
	fi

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

# Re-pin what .venv has (after a deliberate upgrade), for constraints.txt.
.PHONY: constraints axe
constraints: venv
	{ head -n 2 constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v '^callrec'; } > constraints.new
	mv constraints.new constraints.txt

venv: $(VENV)/.installed

# The Asterisk 22 root (Debian sid, debootstrap), built once and cached in /var/cache/callrec.
asterisk: deps
	bash scripts/asterisk-root.sh build

run: deps venv asterisk
	bash scripts/run-demo.sh

# Kamailio in front of two Asterisk nodes on one PostgreSQL (docs/scaling.md, issue 18).
run-cluster: deps venv asterisk
	bash scripts/run-cluster.sh

lint: venv
	$(VENV)/bin/ruff check callrec_ari tests bench
	$(VENV)/bin/mypy

test-unit: venv
	$(PY) -m pytest -q -m "not asterisk" $(PYTEST_ARGS)

test-integration: deps venv asterisk
	$(PY) -m pytest -q -m asterisk $(PYTEST_ARGS)

# axe-core (npm), which the browser tests inject into pages to check accessibility (issue 19).
AXE := tests/browser/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/axe/package.json tests/browser/axe/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	cd tests/browser/axe && npm ci --no-audit --no-fund --loglevel=error
	touch $@

axe: $(AXE)

# The Asterisk tests (tests/integration) are real calls in real time, mostly waiting on audio: they
# run in the background while the rest runs beside them at the lowest priority and off the first CPU
# (nice 19, taskset), so the calls' timing stays theirs. Their output is printed when both are done;
# any failure fails the target. The soak's 3-minute smoke (tests/soak: its own SIP edge, Asterisk node
# and PostgreSQL, on other addresses and ports) runs in a third lane from the start, off the first
# CPU at nice 10: above the lane beside (nice 19), below the Asterisk tier, whose event-loop test
# measures the app's callbacks in wall-clock time (at normal priority the smoke made one take 136 ms).
# Lint runs first in the lane beside, so it costs the suite no time of its own.
INTEGRATION_LOG := build/test-integration.log
SOAK_LOG := build/test-soak-smoke.log
SOAK_LANE := nice -n 10 taskset -c $(shell n=$$(nproc); [ $$n -gt 1 ] && echo 1-$$((n-1)) || echo 0)
BESIDE := nice -n 19 taskset -c $(shell n=$$(nproc); [ $$n -gt 1 ] && echo 1-$$((n-1)) || echo 0)

test: deps venv asterisk axe
	@mkdir -p build
	@echo "--- the Asterisk tests (tests/integration) in the background: $(INTEGRATION_LOG)"
	@$(PY) -m pytest -q -p no:cacheprovider tests/integration $(PYTEST_ARGS) >$(INTEGRATION_LOG) 2>&1 & pid=$$!; \
	echo "--- the soak's smoke (tests/soak) in the background: $(SOAK_LOG)"; \
	$(SOAK_LANE) $(PY) -m pytest -q -p no:cacheprovider tests/soak $(PYTEST_ARGS) >$(SOAK_LOG) 2>&1 & spid=$$!; \
	status=0; \
	echo "--- lint (ruff, mypy)"; \
	$(BESIDE) $(MAKE) --no-print-directory lint || status=1; \
	echo "--- the other tests"; \
	$(BESIDE) $(PY) -m pytest -q --ignore=tests/integration --ignore=tests/soak $(PYTEST_ARGS) || status=1; \
	echo "--- the database-backed component tests again, on PostgreSQL ($(PG_URL))"; \
	CALLREC_DATABASE_URL=$(PG_URL) $(BESIDE) $(PY) -m pytest -q -p no:cacheprovider \
		tests/db tests/delivery tests/portal $(PYTEST_ARGS) || status=1; \
	echo "--- the package as an operator installs it: the wheel in a clean virtualenv"; \
	$(BESIDE) bash scripts/wheel-check.sh || status=1; \
	wait $$spid || status=1; \
	echo "--- the soak's smoke (tests/soak)"; cat $(SOAK_LOG); \
	wait $$pid || status=1; \
	echo "--- the Asterisk tests (tests/integration)"; cat $(INTEGRATION_LOG); \
	exit $$status

# The whole suite against PostgreSQL (every test database is created on that server and dropped).
test-postgres: deps venv asterisk
	CALLREC_DATABASE_URL=$(PG_URL) $(PY) -m pytest -q $(PYTEST_ARGS)

clean-asterisk:
	rm -rf /var/cache/callrec/asterisk-sid

# The soak under faults (issue 20, bench/soak/): not part of `make test` (its 3-minute smoke is).
# SOAK_MINUTES (30), SOAK_SEED, SOAK_CPS (default: 70 % of the last bench's highest clean rate).
.PHONY: soak
soak: deps venv asterisk
	$(PY) -m bench.soak

# Benchmarks (issue 8): not part of `make test`. BENCH_QUICK=1 for a < 5 min smoke run.
.PHONY: bench
$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

bench: deps venv asterisk $(VENV)/.bench-installed
	$(PY) -m bench.run --profile

# Mutation testing (issue 12, docs/mutation.md): not part of `make test`. mutmut ([tool.mutmut] in
# pyproject.toml) mutates rules/ and the pure call flow in a copy under mutants/ (made afresh each
# run) and runs the unit tests that reach each mutant, one mutant at a time at the lowest CPU
# priority; the report lists every mutant not killed and fails below MUTATION_MIN percent killed.
MUTATION_MIN ?= 90
.PHONY: mutation
$(VENV)/.mutation-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,mutation]'
	touch $@

mutation: venv $(VENV)/.mutation-installed
	rm -rf mutants && mkdir mutants
	@echo "mutmut: mutating rules/ and the call flow, then testing each mutant (log: mutants/mutmut.log)"
	@start=$$(date +%s); \
	nice -n 19 $(VENV)/bin/mutmut run --max-children 1 > mutants/mutmut.log 2>&1 \
		|| { tr '\r' '\n' < mutants/mutmut.log | tail -n 40; exit 1; }; \
	echo "mutmut: done in $$(( $$(date +%s) - start )) s"
	$(PY) scripts/mutation-report.py --min $(MUTATION_MIN) --survivors mutants/survivors.txt
