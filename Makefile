# The two commands: `make run` and `make test`. Everything else is a helper of those two.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run monitor test install browser peers node-clients sdk-test lint format migrations-check check bench serve ci clean

$(VENV)/.installed: pyproject.toml sdk/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ./sdk ".[dev]"
	touch $@

install: $(VENV)/.installed

# Chromium for the browser tests (Debian's package; Playwright drives it through executable_path).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Real peers the tests start on loopback with their own config in a temp dir (tests/peers/): Debian's Alertmanager
# (alerts in and out) and nginx (the balancer in front of several receivers). Only the binaries are used, never
# /etc nor the packages' own services (which a machine with systemd starts on :80 and :9093; a container doesn't).
PEER_PACKAGES := /usr/bin/prometheus-alertmanager:prometheus-alertmanager /usr/sbin/nginx:nginx
peers:
	@missing=""; for pair in $(PEER_PACKAGES); do \
	  [ -x "$${pair%%:*}" ] || missing="$$missing $${pair#*:}"; done; \
	[ -z "$$missing" ] || { \
	  echo "installing Debian's$$missing for the peer tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    -o DPkg::Lock::Timeout=300 $$missing >/dev/null; }

# npm's OpenTelemetry Node.js SDK, a second OTLP client for the tests (versions pinned in its package-lock.json).
NODE_CLIENTS := tests/clients/node
$(NODE_CLIENTS)/node_modules/.installed: $(NODE_CLIENTS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is needed for the Node.js client tests (apt-get install npm)"; exit 1; }
	cd $(NODE_CLIENTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-clients: $(NODE_CLIENTS)/node_modules/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py ensure_admin --url http://$(HOST):$(PORT)/
	$(PY) manage.py demo --if-empty
	@# The schedule monitor (missed, late, stuck runs) runs beside the server and stops with it; the server's last
	@# line is still where to sign in, as whom, the password.
	$(PY) manage.py monitor --quiet-start & monitor=$$!; trap 'kill $$monitor 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver --sign-in $(HOST):$(PORT)

# Production-style server: gunicorn's gevent worker (WEB_CONCURRENCY workers, default 2), request bodies read
# within a deadline, static files by whitenoise; console/gunicorn.conf.py and docs/serving.md (nginx in front).
# Run the schedule monitor next to it (docs/serving.md): `make monitor` or `manage.py monitor`, one per replica.
serve: install
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(VENV)/bin/gunicorn --config console/gunicorn.conf.py --bind $(HOST):$(PORT)

# The schedule monitor alone (beside `make serve`; several may run: each tick is decided once).
monitor: install
	$(PY) manage.py monitor

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check

# The SDK as a job installs it: `pip install ./sdk` into a virtualenv without Django, then its own tests there.
SDK_VENV := var/sdk-venv
$(SDK_VENV)/.installed: sdk/pyproject.toml
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install --quiet --upgrade pip
	$(SDK_VENV)/bin/pip install --quiet "./sdk[test]"
	touch $@

sdk-test: $(SDK_VENV)/.installed
	$(SDK_VENV)/bin/pip install --quiet --no-deps --force-reinstall ./sdk
	cd $(SDK_VENV) && bin/python -c "import importlib.util, sys, jobtrace_sdk, jobtrace_sdk.cli; \
	  assert importlib.util.find_spec('django') is None, 'Django is installed beside the SDK'; \
	  assert 'celery' not in sys.modules, 'importing jobtrace_sdk imported Celery (an optional extra)'; \
	  print('jobtrace_sdk imports without Django (and without Celery) from', jobtrace_sdk.__file__)"
	$(SDK_VENV)/bin/pytest -q -c sdk/pyproject.toml sdk/tests

test: install browser peers node-clients sdk-test lint migrations-check
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
