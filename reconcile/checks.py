"""System checks that turn bad configuration into errors at start-up.

Ids are stable so that operators can search for them: tally.E001 and onwards.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from reconcile.env import hostname

HUBSPOT_PRODUCTION_HOSTS = {"api.hubapi.com", "api.hubspot.com"}


@register(Tags.security, deploy=False)
def check_environment(app_configs, **kwargs):
    messages = [
        Error(
            f"{name}: {reason}", id="tally.E001", hint="Fix the environment variable."
        )
        for name, reason in settings.SETTINGS_PROBLEMS
    ]
    messages += _check_hubspot()
    messages += _check_production()
    messages += _check_redis()
    messages += _check_database()
    messages += _check_webhooks()
    messages += _check_leases()
    return messages


def _check_leases():
    """A batch's lease must outlast its task, or a live worker's batch is handed out again."""
    timeout = settings.Q_CLUSTER.get("timeout") or 0
    if settings.TALLY_LEASE_SECONDS > timeout:
        return []
    return [
        Error(
            f"TALLY_LEASE_SECONDS ({settings.TALLY_LEASE_SECONDS}) is not longer than "
            f"a task may run ({timeout} s).",
            id="tally.E009",
            hint=f"Set TALLY_LEASE_SECONDS above {timeout}, or leave it unset (330).",
        )
    ]


def _check_hubspot():
    try:
        parts = urlsplit(settings.HUBSPOT_BASE_URL)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        return [
            Error(
                "HUBSPOT_BASE_URL must be an http(s) URL.",
                id="tally.E002",
                hint="Leave it unset for the local sandbox, or use https://api.hubapi.com.",
            )
        ]
    messages = []
    is_real = _is_production()
    if is_real and not settings.HUBSPOT_ACCESS_TOKEN:
        messages.append(
            Error(
                "HUBSPOT_BASE_URL points at HubSpot but HUBSPOT_ACCESS_TOKEN is empty.",
                id="tally.E003",
                hint="Set HUBSPOT_ACCESS_TOKEN to the private app's access token.",
            )
        )
    if is_real and parts.scheme != "https":
        messages.append(
            Error(
                "HubSpot must be reached over https.",
                id="tally.E004",
                hint="Use https://api.hubapi.com.",
            )
        )
    return messages


def _check_production():
    messages = []
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY and _is_production():
        messages.append(
            Error(
                "SECRET_KEY is the development default while Tally talks to "
                "HubSpot itself.",
                id="tally.E005",
                hint="Set SECRET_KEY to a long random value.",
            )
        )
    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        messages.append(
            Error(
                "ALLOWED_HOSTS is empty while DEBUG is off; every request would be refused.",
                id="tally.E006",
                hint="Set ALLOWED_HOSTS to the dashboard's host names, comma-separated.",
            )
        )
    return messages


def _check_redis():
    if not settings.REDIS_URL:
        return []
    scheme = urlsplit(settings.REDIS_URL).scheme
    if scheme not in ("redis", "rediss", "unix"):
        return [
            Error(
                "REDIS_URL must start with redis://, rediss:// or unix://.",
                id="tally.E007",
                hint="For example redis://127.0.0.1:6379/0, or unset it for the ORM broker.",
            )
        ]
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return [
            Warning(
                "REDIS_URL is set but the database is SQLite: workers on other "
                "machines cannot share a SQLite file.",
                id="tally.W001",
                hint="Point DATABASE_URL at PostgreSQL for the scaled-out mode.",
            )
        ]
    return []


def _check_database():
    database = settings.DATABASES["default"]
    if not database.get("NAME"):
        return [
            Error(
                "DATABASE_URL has no database name.",
                id="tally.E008",
                hint="For example postgres://tally@127.0.0.1:5432/tally.",
            )
        ]
    return []


def _check_webhooks():
    messages = []
    public = settings.TALLY_PUBLIC_URL
    if public:
        try:
            parts = urlsplit(public)
            valid = (
                parts.scheme in ("http", "https")
                and bool(parts.hostname)
                and parts.path in ("", "/")
                and not parts.query
                and not parts.fragment
            )
        except ValueError:
            valid = False
        if not valid:
            messages.append(
                Error(
                    "TALLY_PUBLIC_URL must be a scheme and host only, such as "
                    "https://tally.example.com.",
                    id="tally.E020",
                    hint="HubSpot signs the full URI it calls; the path comes from "
                    "the request.",
                )
            )
    if _is_production() and not settings.HUBSPOT_CLIENT_SECRET:
        messages.append(
            Warning(
                "HUBSPOT_CLIENT_SECRET is empty: every webhook from HubSpot is refused.",
                id="tally.W020",
                hint="Set it to the app's client secret to receive webhooks "
                "(docs/webhooks.md), or ignore this if none are subscribed.",
            )
        )
    return messages


def _is_production() -> bool:
    return hostname(settings.HUBSPOT_BASE_URL) in HUBSPOT_PRODUCTION_HOSTS
