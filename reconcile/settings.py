"""Tally settings: everything comes from environment variables.

The defaults suit a laptop: a SQLite file under ``var/``, django-q2's ORM
broker, and Tally's own HubSpot sandbox on 127.0.0.1. ``reconcile.checks``
turns missing or contradictory production settings into system-check errors.
"""

import os
from pathlib import Path

import dj_database_url

from reconcile import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.get_str("TALLY_VAR_DIR") or BASE_DIR / "var")
# SQLite needs the folder before the first connection; a fresh clone has none.
(VAR_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)

DEV_SECRET_KEY = "tally-insecure-development-key-do-not-use-in-production"  # noqa: S105  (refused in production by tally.E005)
SECRET_KEY = env.get_str("SECRET_KEY") or DEV_SECRET_KEY
DEBUG = env.get_bool("DEBUG", False)
ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.get_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
    "django_tables2",
    "django_filters",
    "hubspot_sync",
    "reconcile",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "reconcile.urls"
WSGI_APPLICATION = "reconcile.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL (sqlite:///path or postgres://...), else a SQLite file.
DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'tally.sqlite3'}"
DATABASE_URL = env.get_str("DATABASE_URL") or DEFAULT_DATABASE_URL
SUPPORTED_ENGINES = ("django.db.backends.sqlite3", "django.db.backends.postgresql")
try:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=60)
except (ValueError, KeyError) as exc:
    env.PROBLEMS.append(("DATABASE_URL", f"cannot be parsed: {exc}"))
    _database = dj_database_url.parse(DEFAULT_DATABASE_URL)
if _database["ENGINE"] not in SUPPORTED_ENGINES:
    # Refused here, not in a check: Django would import the missing driver
    # before any check could run.
    engine = _database["ENGINE"].rsplit(".", 1)[-1]
    env.PROBLEMS.append(
        (
            "DATABASE_URL",
            f"names a {engine} database; Tally runs on SQLite or PostgreSQL",
        )
    )
    _database = dj_database_url.parse(DEFAULT_DATABASE_URL)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and the web server share the file: wait for locks instead of
    # failing, and let readers run while a writer commits.
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory: tests that start a real qcluster share it. One per
    # process, so that two test runs side by side do not trample each other.
    _database["TEST"] = {"NAME": str(VAR_DIR / f"test-tally-{os.getpid()}.sqlite3")}
elif _database.get("NAME"):
    # One test database per process here too: Django would otherwise drop and
    # recreate the one test database under a run that is still using it.
    _database["TEST"] = {"NAME": f"test_{_database['NAME']}_{os.getpid()}"}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "reconcile:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.get_time_zone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# Serve straight from static/ too, so a dashboard works before collectstatic.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.get_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Fields per query string or form. Django's default, 1,000, is also the retry
# action's limit of items at once (reconcile.actions.MAX_ITEMS): a selection
# just over it met Django's bare "Bad Request" before the action could say
# what to do instead. Ten times that is still cheap to parse, and leaves the
# action's own message to speak.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# HubSpot. The default target is Tally's own sandbox (manage.py hubspot_sandbox).
SANDBOX_PORT = env.get_int("TALLY_SANDBOX_PORT", 8025, minimum=1, maximum=65535)
SANDBOX_TOKEN = "sandbox-token"  # noqa: S105  (the local sandbox only)
HUBSPOT_BASE_URL = (
    env.get_str("HUBSPOT_BASE_URL") or f"http://127.0.0.1:{SANDBOX_PORT}"
).rstrip("/")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
HUBSPOT_ACCESS_TOKEN = env.get_str("HUBSPOT_ACCESS_TOKEN") or (
    SANDBOX_TOKEN if env.hostname(HUBSPOT_BASE_URL) in LOOPBACK_HOSTS else ""
)
# Webhooks (hubspot_sync/webhooks.py, docs/webhooks.md): the app's client
# secret keys HubSpot's v3 signatures. Against the local sandbox, the fixed
# secret the demo starts the sandbox with.
SANDBOX_WEBHOOK_SECRET = "sandbox-client-secret"  # noqa: S105  (the local sandbox only)
HUBSPOT_CLIENT_SECRET = env.get_str("HUBSPOT_CLIENT_SECRET") or (
    SANDBOX_WEBHOOK_SECRET if env.hostname(HUBSPOT_BASE_URL) in LOOPBACK_HOSTS else ""
)
# A webhook event whose processing fails is taken again by the
# "tally-webhook-retry" schedule after 1, 2, 4 ... minutes, this many tries in all.
TALLY_WEBHOOK_MAX_TRIES = env.get_int("TALLY_WEBHOOK_MAX_TRIES", 5, minimum=1)
# The scheme and host HubSpot calls Tally at (https://tally.example.com), as
# signed in the v3 signature; empty takes them from the request itself.
TALLY_PUBLIC_URL = (env.get_str("TALLY_PUBLIC_URL") or "").rstrip("/")
HUBSPOT_TIMEOUT = env.get_int("HUBSPOT_TIMEOUT", 30, minimum=1)
HUBSPOT_MAX_ATTEMPTS = env.get_int("HUBSPOT_MAX_ATTEMPTS", 5, minimum=1)
# The shared rate budget: HubSpot's burst limit per app (190 per 10 s on
# Professional and Enterprise, 100 on Free and Starter) until HubSpot's own
# headers say otherwise, less a little headroom; searches have their own.
HUBSPOT_RATE_LIMIT = env.get_int("HUBSPOT_RATE_LIMIT", 190, minimum=1)
HUBSPOT_RATE_INTERVAL_MS = env.get_int("HUBSPOT_RATE_INTERVAL_MS", 10_000, minimum=1)
HUBSPOT_RATE_HEADROOM = env.get_int("HUBSPOT_RATE_HEADROOM_PERCENT", 3, minimum=0) / 100
HUBSPOT_SEARCH_RATE_LIMIT = env.get_int("HUBSPOT_SEARCH_RATE_LIMIT", 5, minimum=1)
# Used for the dashboard's budget until HubSpot's own daily headers say otherwise.
HUBSPOT_DAILY_LIMIT = env.get_int("HUBSPOT_DAILY_LIMIT", 250_000, minimum=1)
HUBSPOT_BATCH_SIZE = 100  # HubSpot's cap on object batch endpoints
HUBSPOT_ASSOCIATION_BATCH_SIZE = env.get_int(
    "HUBSPOT_ASSOCIATION_BATCH_SIZE", 2000, minimum=1, maximum=2000
)
# Backfills through HubSpot's imports API (hubspot_sync/imports.py,
# docs/imports.md): a run with at least this many never-sent items sends them
# as import files; `sync_hubspot --imports` does whatever the number.
TALLY_IMPORT_THRESHOLD = env.get_int("TALLY_IMPORT_THRESHOLD", 100_000, minimum=1)
# Rows per import file: HubSpot takes at most 1,048,576 (api-facts §6).
TALLY_IMPORT_FILE_ROWS = env.get_int(
    "TALLY_IMPORT_FILE_ROWS", 100_000, minimum=1, maximum=1_048_575
)
# Polling: the first poll after this many seconds, then 1.5 times longer each
# time up to the maximum; an import still running at the deadline is canceled.
TALLY_IMPORT_POLL_SECONDS = env.get_int("TALLY_IMPORT_POLL_SECONDS", 2, minimum=1)
TALLY_IMPORT_POLL_MAX_SECONDS = env.get_int(
    "TALLY_IMPORT_POLL_MAX_SECONDS", 30, minimum=1
)
TALLY_IMPORT_DEADLINE_MINUTES = env.get_int(
    "TALLY_IMPORT_DEADLINE_MINUTES", 60, minimum=1
)
TALLY_STORE_CURRENCY = env.get_str("TALLY_STORE_CURRENCY") or "GBP"
# What happens to an item whose HubSpot record is gone (deleted or merged
# away): "recreate" sends it again on the next sync (the store is the source
# of truth); "wait" leaves it flagged until someone resyncs it.
TALLY_ON_NOT_FOUND = env.get_choice("TALLY_ON_NOT_FOUND", ("recreate", "wait"))

# Reconciliation sweeps (reconcile/sweep.py): how often the schedule starts
# one, and whether it scans HubSpot for orphans and duplicates (searches, 5 a
# second: about 80 s per 80,000 records).
TALLY_SWEEP_MINUTES = env.get_int("TALLY_SWEEP_MINUTES", 360, minimum=10)
TALLY_SWEEP_ORPHANS = env.get_bool("TALLY_SWEEP_ORPHANS", True)

# How long a batch may hold its items: longer than a task may run (Q_CLUSTER
# timeout), so that only a dead worker's lease runs out.
TALLY_LEASE_SECONDS = env.get_int("TALLY_LEASE_SECONDS", 330, minimum=10)

# The longest a django-q task may run before its worker is stopped (seconds).
TALLY_TASK_TIMEOUT = env.get_int("TALLY_TASK_TIMEOUT", 300, minimum=10)

# django-q2: Redis broker when REDIS_URL is set, else the ORM broker.
REDIS_URL = env.get_str("REDIS_URL")
# Names this installation's keys in Redis (its queue and its rate budget), so
# that several can share one Redis server. Every worker must use the same.
TALLY_REDIS_PREFIX = env.get_str("TALLY_REDIS_PREFIX") or "tally"
Q_CLUSTER = {
    "name": TALLY_REDIS_PREFIX,
    "workers": env.get_int("TALLY_Q_WORKERS", 2, minimum=1),
    # A batch call takes seconds; a whole task well under two minutes.
    # timeout < retry, or a slow task would be handed out twice; the batch
    # lease must outlast it (tally.E009).
    "timeout": TALLY_TASK_TIMEOUT,
    "retry": TALLY_TASK_TIMEOUT + 60,
    "max_attempts": 3,
    "ack_failures": True,
    "save_limit": 1000,
    "catch_up": False,
    "label": "Tasks",
    "poll": 0.2,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.get_log_level("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # django-q logs every task at INFO; a sync makes about 900 of them.
        "django-q": {"level": env.get_log_level("Q_LOG_LEVEL", "WARNING")},
        "urllib3": {"level": "WARNING"},
    },
}

# Django's debug pages hide settings named like secrets; URLs can carry
# passwords too (DATABASE_URL, REDIS_URL).
DEFAULT_EXCEPTION_REPORTER_FILTER = "reconcile.debug.SafeReporterFilter"

SETTINGS_PROBLEMS = env.PROBLEMS
