# Testbed — every set-up step lives here. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
# The demo's own gateway and university receiver are called at the address it is served
# on (a wildcard bind is reached through loopback), so `make run PORT=8100` delivers to
# 8100, not 8000. seed_demo updates the demo agreements to it on every run.
DEMO_HOST := $(if $(filter 0.0.0.0 :: [::],$(HOST)),127.0.0.1,$(HOST))
DEMO_BASE_URL ?= http://$(DEMO_HOST):$(PORT)
# E-mails link to their pages under it (the demo prints them to the console).
SITE_URL ?= $(DEMO_BASE_URL)

.PHONY: help system-deps install run test test-fast lint format worker beat collector demo-plant bench loadtest migrate seed clean

help:
	@echo "make run     - install, migrate, seed the demo and serve http://$(HOST):$(PORT) (SQLite, eager tasks)"
	@echo "make test    - install and run the whole test suite (DATABASE_URL/REDIS_URL select the services)"
	@echo "make test-fast - the suite without the slow tests (Schemathesis, browser): the inner loop"
	@echo "make lint    - ruff"
	@echo "make system-deps - CJK font, HarfBuzz subsetter, pdftotext for PDFs (make install runs it)"
	@echo "make worker  - Celery worker on CELERY_BROKER_URL (RabbitMQ) or REDIS_URL, all queues"
	@echo "               (QUEUES=collection for one);  make beat - Celery beat"
	@echo "make collector - the equipment data collector;  make demo-plant - simulated MTConnect/OPC UA/MQTT equipment"
	@echo "make bench   - benchmarks against PostgreSQL (prints a markdown table)"
	@echo "make loadtest - Locust load test (gunicorn, PostgreSQL, Redis, Celery worker), then checks the database"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# What pip cannot bring, for PDFs (core/pdf.py): a CJK font (Chinese text; the browser
# tests' pages use it too), HarfBuzz's subsetter (WeasyPrint embeds the few glyphs used
# from the large CJK font in a fraction of the time fontTools takes) and pdftotext
# (poppler), with which the PDF tests read what was rendered. Only what is missing is
# installed, so this is a no-op once all are there; as root with apt-get it installs
# them, otherwise it says what to install and goes on (PDFs then show no Chinese glyphs
# or render slowly, and the PDF tests are skipped).
system-deps:
	@missing=""; \
	command -v fc-list >/dev/null 2>&1 && [ -n "$$(fc-list :lang=zh family 2>/dev/null | head -n 1)" ] \
	  || missing="$$missing fonts-noto-cjk"; \
	PATH="$$PATH:/sbin:/usr/sbin" ldconfig -p 2>/dev/null | grep -q 'libharfbuzz-subset\.so\.0' \
	  || missing="$$missing libharfbuzz-subset0"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	[ -z "$$missing" ] && exit 0; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "system-deps: installing$$missing (for PDFs: CJK font, glyph subsetting, pdftotext)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
	    || { echo "system-deps: apt-get could not install$$missing"; exit 1; }; \
	else \
	  echo "system-deps: please install$$missing (Debian/Ubuntu package names) for PDFs:"; \
	  echo "system-deps: a CJK font, HarfBuzz's subsetter and pdftotext. Until then PDFs may show"; \
	  echo "system-deps: no Chinese glyphs or render slowly, and the PDF tests are skipped."; \
	fi

install: system-deps $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	DEMO_BASE_URL=$(DEMO_BASE_URL) SITE_URL=$(SITE_URL) $(BIN)/python manage.py seed_demo

run: seed
	DEMO_BASE_URL=$(DEMO_BASE_URL) SITE_URL=$(SITE_URL) $(BIN)/python manage.py runserver $(HOST):$(PORT)

# Everything, slow tests included (CI runs this).
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The inner loop: everything but the tests marked slow (Schemathesis fuzzing, browsers).
test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	@# Dependency audit: a known vulnerability fails the build. Vulnerability data that
	@# cannot be reached from this machine only skips or thins the audit, said loudly.
	@echo "$(BIN)/pip-audit --progress-spinner off --skip-editable"; \
	out=$$($(BIN)/pip-audit --progress-spinner off --skip-editable 2>&1); rc=$$?; \
	skipped=$$(printf '%s\n' "$$out" | grep -c "could not be audited"); \
	if printf '%s\n' "$$out" | grep -Eq "^Found [0-9]+ known vulnerabilit"; then \
	  printf '%s\n' "$$out"; exit 1; \
	elif [ $$rc -ne 0 ]; then \
	  printf '%s\n' "$$out" | tail -n 3; \
	  echo "pip-audit: SKIPPED - the vulnerability service could not be reached from here (not failing the build for that)."; \
	elif [ $$skipped -gt 0 ]; then \
	  printf '%s\n' "$$out" | grep -v "could not be audited" | grep -Ev "^(Name +Skip Reason|-+ -+)$$"; \
	  echo "pip-audit: INCOMPLETE - $$skipped dependencies could not be audited (no vulnerability data for them reachable from here; not failing the build for that)."; \
	else \
	  printf '%s\n' "$$out"; \
	fi

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# One worker on all three queues (settings.py: CELERY_TASK_ROUTES); production runs one
# per queue, e.g. `make worker QUEUES=collection` (README "Production shape").
QUEUES ?= default,collection,deliveries
worker: install
	$(BIN)/celery -A testbed worker --loglevel=INFO -Q $(QUEUES)

beat: install
	$(BIN)/celery -A testbed beat --loglevel=INFO

# Equipment data while bookings run (MTConnect, OPC UA, MQTT sources): beside web,
# worker and beat. Against the same database as `make run` (the demo's SQLite by default).
collector: migrate
	$(BIN)/python manage.py run_collector

# Simulated plant on loopback for the demo's MTConnect, OPC UA and MQTT equipment: an
# MTConnect agent (CNC cell), an OPC UA server (metal printer) and an MQTT publisher
# (robot) on the local Mosquitto. With `make run` and `make collector`: live data.
demo-plant: install
	$(BIN)/python manage.py demo_plant

bench: install
	$(BIN)/python -m tests.benchmarks.run

loadtest: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev,load]'
	$(BIN)/python -m tests.load.run

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
