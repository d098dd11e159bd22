# The two commands a new user needs: `make run` and `make test`.
# Each installs what it needs: a virtualenv with the Python packages, and for the tests
# Debian's chromium/chromium-driver, prometheus-alertmanager, kcat, the npm build of TimescaleDB (PGlite)
# and axe-core (the accessibility checker the browser tests run on every wall page); and
# Apache Kafka's jars from Maven Central (the broker the suite's broker tier runs on).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
TSDB := tests/timescale/node_modules/.package-lock.json
AXE := tests/browser/node_modules/.package-lock.json
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint venv lock test-deps kafka screenshot repeat fuzz clean

run: $(STAMP)
	$(VENV)/bin/ioc up

test: $(STAMP) test-deps kafka
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

screenshot: $(STAMP) test-deps
	$(VENV)/bin/pytest tests/browser -q --screenshot-dir docs/screenshots

# Flakiness: the browser and timing-sensitive tiers, TIMES sessions in a row (JSON report).
TIMES ?= 5
REPEAT ?= tests/browser tests/integration/test_alert_engine.py \
  tests/integration/test_alert_notify.py tests/integration/test_alert_replay.py \
  tests/integration/test_alert_scenarios.py tests/integration/test_fault_runs.py \
  tests/integration/test_stream_resilience.py tests/integration/test_up.py \
  tests/integration/test_wall_data.py tests/integration/test_wall_server.py
repeat: $(STAMP) test-deps
	$(PY) -m tests.repeat --times $(TIMES) $(REPEAT)

# Long fuzzing of the event decoder and the wall's HTTP inputs (the suite tries 300 each).
FUZZ_EXAMPLES ?= 20000
fuzz: $(STAMP)
	$(VENV)/bin/pytest tests/unit/test_fuzz.py -q -s -p no:cacheprovider --fuzz-examples $(FUZZ_EXAMPLES)

# requirements.lock again, from the newest versions pyproject.toml allows (then `make test`)
lock: $(STAMP)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra embedded --extra proof --extra test \
	  --python-version 3.11 --no-header --annotation-style line -o requirements.lock.new
	{ grep '^#' requirements.lock; cat requirements.lock.new; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock && rm requirements.lock.new

lint: $(STAMP)
	$(VENV)/bin/ruff check .

venv: $(STAMP)

# the tested versions (requirements.lock) of everything: the product, its embedded services
# (`embedded`), the fault tooling (`proof`) and the test tools
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[embedded,proof,test]'
	rm -f $(VENV)/.installed-*
	touch $@

test-deps: $(TSDB) $(AXE)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  && command -v prometheus-alertmanager >/dev/null && command -v promtool >/dev/null \
	  && command -v kcat >/dev/null || { \
	  echo "installing Debian chromium, chromium-driver (browser tests), prometheus-alertmanager (alert tests), prometheus (promtool: metrics lint) and kcat (Kafka interop)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver prometheus-alertmanager prometheus kcat; }

# Apache Kafka's jars (the suite's broker), fetched with Maven into ~/.cache/ioc once
kafka: $(STAMP)
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing Debian openjdk-17-jre-headless and maven (Apache Kafka for the tests)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openjdk-17-jre-headless maven; }
	@$(PY) -m ioc.services.kafka >/dev/null

$(TSDB): tests/timescale/package.json tests/timescale/package-lock.json
	cd tests/timescale && npm ci --no-audit --no-fund --loglevel=error

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error

clean:
	rm -rf $(VENV) .ioc tests/timescale/node_modules tests/browser/node_modules
