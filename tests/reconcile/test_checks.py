import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from reconcile.checks import check_environment

ROOT = Path(__file__).resolve().parents[2]


def _manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    """Run manage.py in a fresh process, so that settings are read anew."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _ids(messages) -> list[str]:
    return sorted(m.id for m in messages)


def test_it_is_quiet_with_the_laptop_defaults():
    assert check_environment(None) == []


@override_settings(HUBSPOT_BASE_URL="https://api.hubapi.com", HUBSPOT_ACCESS_TOKEN="")
def test_it_requires_a_token_for_real_hubspot():
    assert "tally.E003" in _ids(check_environment(None))


@override_settings(
    HUBSPOT_BASE_URL="http://api.hubapi.com",
    HUBSPOT_ACCESS_TOKEN="x",
    SECRET_KEY="s" * 50,
)
def test_it_requires_https_for_real_hubspot():
    assert _ids(check_environment(None)) == ["tally.E004"]


@override_settings(HUBSPOT_BASE_URL="ftp://example")
def test_it_refuses_a_base_url_that_is_not_http():
    assert _ids(check_environment(None)) == ["tally.E002"]


@override_settings(
    DEBUG=False,
    HUBSPOT_BASE_URL="https://api.hubapi.com",
    HUBSPOT_ACCESS_TOKEN="pat-na1-x",
    SECRET_KEY="tally-insecure-development-key-do-not-use-in-production",
)
def test_it_refuses_the_development_secret_key_against_real_hubspot():
    assert _ids(check_environment(None)) == ["tally.E005"]


@override_settings(DEBUG=False, ALLOWED_HOSTS=[])
def test_it_refuses_empty_allowed_hosts_without_debug():
    assert _ids(check_environment(None)) == ["tally.E006"]


@override_settings(REDIS_URL="http://127.0.0.1:6379")
def test_it_refuses_a_redis_url_with_the_wrong_scheme():
    assert _ids(check_environment(None)) == ["tally.E007"]


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ("django.db.backends.sqlite3", ["tally.W001"]),
        ("django.db.backends.postgresql", []),
    ],
)
def test_it_warns_when_redis_is_paired_with_sqlite(
    settings, monkeypatch, engine, expected
):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    # Whichever database this suite runs on; the check only reads the engine.
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", engine)

    assert _ids(check_environment(None)) == expected


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DEBUG", "maybe", "DEBUG: 'maybe' is not a boolean"),
        ("HUBSPOT_TIMEOUT", "soon", "HUBSPOT_TIMEOUT: 'soon' is not a whole number"),
        ("DATABASE_URL", "nosuchdb://x", "DATABASE_URL: cannot be parsed"),
        ("LOG_LEVEL", "VERBOSE", "LOG_LEVEL: 'VERBOSE' is not one of DEBUG"),
        ("TIME_ZONE", "Mars/Base", "TIME_ZONE: 'Mars/Base' is not a known time zone"),
        ("TALLY_SANDBOX_PORT", "70000", "70000 is above the maximum of 65535"),
        (
            "TALLY_ON_NOT_FOUND",
            "later",
            "TALLY_ON_NOT_FOUND: 'later' is not one of recreate, wait",
        ),
    ],
)
def test_it_reports_a_bad_variable_as_a_check_error_not_a_crash(
    variable, value, expected, tmp_path
):
    env = {**os.environ, variable: value, "TALLY_VAR_DIR": str(tmp_path)}
    result = _manage(env, "check")

    assert result.returncode != 0
    assert "tally.E001" in result.stderr
    assert expected in result.stderr


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"HUBSPOT_BASE_URL": "http://[::1"}, ["tally.E002"]),
        (
            {"HUBSPOT_BASE_URL": "https://api.hubapi.com.", "HUBSPOT_ACCESS_TOKEN": ""},
            ["tally.E003", "tally.E005"],
        ),
        (
            {
                "DEBUG": True,
                "HUBSPOT_BASE_URL": "https://api.hubapi.com",
                "HUBSPOT_ACCESS_TOKEN": "pat-na1-x",
            },
            ["tally.E005"],
        ),
    ],
)
def test_it_catches_contradictory_hubspot_settings(overrides, expected):
    with override_settings(**overrides):
        assert _ids(check_environment(None)) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u@127.0.0.1/tally", "DATABASE_URL: names a mysql database"),
        ("postgres://", "tally.E008"),
    ],
)
def test_it_refuses_databases_tally_does_not_run_on(url, expected, tmp_path):
    env = {**os.environ, "DATABASE_URL": url, "TALLY_VAR_DIR": str(tmp_path)}
    result = _manage(env, "check")

    assert result.returncode != 0
    assert expected in result.stderr


def test_it_gives_the_sandbox_token_for_any_loopback_name(tmp_path):
    env = {
        **os.environ,
        "HUBSPOT_BASE_URL": "http://localhost:8025",
        "TALLY_VAR_DIR": str(tmp_path),
    }
    env.pop("HUBSPOT_ACCESS_TOKEN", None)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.HUBSPOT_ACCESS_TOKEN)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout.strip().splitlines()[-1] == "sandbox-token"


def test_debug_pages_hide_urls_that_may_carry_passwords(rf):
    from django.views.debug import get_default_exception_reporter_filter

    with override_settings(DATABASE_URL="postgres://tally:hunter2@db/tally"):
        safe = get_default_exception_reporter_filter().get_safe_settings()

    assert "hunter2" not in str(safe["DATABASE_URL"])


@pytest.mark.parametrize("seconds", [300, 60])
def test_a_lease_no_longer_than_a_task_may_run_is_refused(settings, seconds):
    settings.TALLY_LEASE_SECONDS = seconds

    messages = [m for m in check_environment(None) if m.id == "tally.E009"]

    assert [m.msg for m in messages] == [
        f"TALLY_LEASE_SECONDS ({seconds}) is not longer than a task may run (300 s)."
    ]


def test_a_lease_longer_than_a_task_may_run_is_taken(settings):
    settings.TALLY_LEASE_SECONDS = 301
    assert check_environment(None) == []
