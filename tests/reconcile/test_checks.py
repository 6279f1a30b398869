import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from reconcile.checks import check_environment

ROOT = Path(__file__).resolve().parents[2]


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


@override_settings(REDIS_URL="redis://127.0.0.1:6379/0")
def test_it_warns_when_redis_is_paired_with_sqlite():
    assert _ids(check_environment(None)) == ["tally.W001"]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DEBUG", "maybe", "DEBUG: 'maybe' is not a boolean"),
        ("HUBSPOT_TIMEOUT", "soon", "HUBSPOT_TIMEOUT: 'soon' is not a whole number"),
        ("DATABASE_URL", "nosuchdb://x", "DATABASE_URL: cannot be parsed"),
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
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "tally.E001" in result.stderr
    assert expected in result.stderr
