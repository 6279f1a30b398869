"""The webhook settings: the sandbox's secret by default only locally, and their checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from reconcile.checks import check_environment

ROOT = Path(__file__).resolve().parents[2]


def _secret_with(**env: str) -> str:
    """HUBSPOT_CLIENT_SECRET as a fresh process reads it from this environment."""
    names = ("HUBSPOT_BASE_URL", "HUBSPOT_CLIENT_SECRET", "HUBSPOT_ACCESS_TOKEN")
    clean = {k: v for k, v in os.environ.items() if k not in names}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
            "'reconcile.settings'); django.setup(); from django.conf import settings; "
            "print(repr(settings.HUBSPOT_CLIENT_SECRET))",
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_sandbox_secret_is_the_default_only_for_a_local_hubspot():
    assert _secret_with() == "'sandbox-client-secret'"
    assert _secret_with(HUBSPOT_BASE_URL="https://api.hubapi.com") == "''"
    assert (
        _secret_with(
            HUBSPOT_BASE_URL="https://api.hubapi.com", HUBSPOT_CLIENT_SECRET="s"
        )
        == "'s'"
    )


@pytest.mark.parametrize(
    "url",
    ["tally.example.com", "https://tally.example.com/app", "https://t.example?x=1"],
)
def test_a_public_url_must_be_a_scheme_and_host(url):
    with override_settings(TALLY_PUBLIC_URL=url):
        assert [m.id for m in check_environment(None)] == ["tally.E020"]


def test_a_public_url_with_scheme_and_host_is_fine():
    with override_settings(TALLY_PUBLIC_URL="https://tally.example.com:8443"):
        assert check_environment(None) == []


@override_settings(
    HUBSPOT_BASE_URL="https://api.hubapi.com",
    HUBSPOT_ACCESS_TOKEN="x",
    HUBSPOT_CLIENT_SECRET="",
    SECRET_KEY="s" * 50,
)
def test_real_hubspot_without_a_client_secret_is_warned_about():
    assert [m.id for m in check_environment(None)] == ["tally.W020"]
