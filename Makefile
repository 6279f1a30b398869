# Two commands: `make demo` runs Tally on the bundled real data, `make test` runs
# every check. Both create the virtualenv and install what they need.

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed
# The scaled-out mode's PostgreSQL and Redis for `make test-scaled`, which runs
# every check of `make test` there (it creates the database if missing).
SCALED_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tally_ci
SCALED_REDIS_URL ?= redis://127.0.0.1:6379/15

EMBEDDED = env -u DATABASE_URL -u REDIS_URL
SCALED = env DATABASE_URL=$(SCALED_DATABASE_URL) REDIS_URL=$(SCALED_REDIS_URL)
# pytest exits with 5 when it collected no test: a fault, and said so.
NO_TESTS = { status=$$?; [ $$status -ne 5 ] || echo "pytest collected no tests (exit status 5)" >&2; exit $$status; }

.PHONY: demo test test-scaled bench lint format clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python manage.py demo

test: $(STAMP) lint
	$(EMBEDDED) $(BIN)/python manage.py check --fail-level WARNING
	$(EMBEDDED) $(BIN)/python manage.py makemigrations --check --dry-run
	$(EMBEDDED) $(BIN)/pytest || $(NO_TESTS)

test-scaled: $(STAMP) lint
	$(SCALED) $(BIN)/python .ci/create_database.py
	$(SCALED) $(BIN)/python manage.py check --fail-level WARNING
	$(SCALED) $(BIN)/python manage.py makemigrations --check --dry-run
	$(SCALED) $(BIN)/pytest || $(NO_TESTS)

# Benchmarks against local sandboxes (docs/benchmarks.md); about 6 minutes here.
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var
