import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

BASE_DIR = Path(__file__).resolve().parents[2]


def test_it_refuses_to_listen_beyond_loopback(tmp_path):
    everywhere = "0.0.0.0"  # noqa: S104  (the address it must refuse)

    with pytest.raises(CommandError, match="not a loopback address"):
        call_command(
            "hubspot_sandbox", "--host", everywhere, "--db", str(tmp_path / "s.sqlite3")
        )


def test_it_refuses_an_unknown_quirk(tmp_path):
    with pytest.raises(CommandError, match="unknown quirk 'nope'"):
        call_command(
            "hubspot_sandbox", "--quirk", "nope", "--db", str(tmp_path / "s.sqlite3")
        )


@pytest.mark.slow
def test_it_serves_until_sigterm_and_says_where(tmp_path):
    command = [
        sys.executable,
        "manage.py",
        "hubspot_sandbox",
        "--port",
        "0",
        "--db",
        str(tmp_path / "s.sqlite3"),
        "--quirk",
        "drop_result=0.5",
        "--quirk",
        "silent_skip_update",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TALLY_VAR_DIR": str(tmp_path)}
    process = subprocess.Popen(
        command, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+) ", line).group(1)
        response = requests.post(
            f"{url}/crm/v3/objects/deals/batch/read",
            json={"inputs": [], "properties": []},
            headers={"Authorization": "Bearer sandbox-token"},
            timeout=10,
        )
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    assert line.rstrip().endswith("quirks: drop_result=0.5, silent_skip_update=1")
    assert response.status_code == 200
    assert returncode == 0


def test_it_refuses_an_unknown_profile(tmp_path):
    with pytest.raises(CommandError, match="invalid choice: 'calm'"):
        call_command(
            "hubspot_sandbox", "--profile", "calm", "--db", str(tmp_path / "s.sqlite3")
        )


@pytest.mark.slow
def test_it_starts_with_the_realistic_profile_and_says_so(tmp_path):
    command = [
        sys.executable,
        "manage.py",
        "hubspot_sandbox",
        "--port",
        "0",
        "--db",
        str(tmp_path / "s.sqlite3"),
        "--profile",
        "realistic",
        "--hold-seconds",
        "40",
        "--quirk",
        "html_5xx=0",
        "--seed",
        "3",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TALLY_VAR_DIR": str(tmp_path)}
    process = subprocess.Popen(
        command, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+) ", line).group(1)
        config = requests.get(
            f"{url}/_sandbox/config",
            headers={"Authorization": "Bearer sandbox-token"},
            timeout=10,
        ).json()
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    assert line.rstrip().endswith(
        "; profile realistic; hold 40s; quirks: association_empty=0.005, "
        "connection_reset=0.002, drop_result=0.002, search_lag=3, "
        "silent_skip_merged=1, silent_skip_update=0.05, "
        "silent_skip_update_207=0.05, timeout_after_write=0.002"
    )
    assert (config["seed"], config["hold_seconds"]) == (3, 40.0)
    assert config["rate_limit"]["max"] == 190
    assert returncode == 0
