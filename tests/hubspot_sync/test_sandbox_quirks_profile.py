"""The "realistic" profile: what it switches on, how it is overridden, and that a seed
repeats its picks."""

import pytest
import requests

from hubspot_sync.sandbox.quirks import REGISTRY
from hubspot_sync.sandbox.server import SandboxServer
from tests.hubspot_sync.conftest import SandboxAPI

REALISTIC_QUIRKS = {
    "association_empty": 0.005,
    "connection_reset": 0.002,
    "drop_result": 0.002,
    "html_5xx": 0.003,
    "search_lag": 3.0,
    "silent_skip_merged": 1.0,
    "silent_skip_update": 0.05,
    "silent_skip_update_207": 0.05,
    "timeout_after_write": 0.002,
}
REALISTIC = {
    "profile": "realistic",
    "quirks": REALISTIC_QUIRKS,
    "seed": 0,
    "hold_seconds": 35.0,
    "rate_limit": {
        "max": 190,
        "interval_ms": 10000,
        "daily": 625000,
        "retry_after": False,
        "search_per_second": 5,
    },
    "portal_id": 1234567,
    "webhooks": {
        "url": None,
        "own_changes": False,
        "delivered": 0,
        "failed": 0,
        "queued": 0,
    },
}


def test_the_realistic_profile_mixes_quirks_at_low_rates(tmp_path):
    with SandboxServer(tmp_path / "s.sqlite3", profile="realistic") as server:
        config = SandboxAPI(server.url).get("/_sandbox/config").json()

    assert config == REALISTIC


def test_explicit_settings_win_over_the_profile(tmp_path):
    with SandboxServer(
        tmp_path / "s.sqlite3",
        profile="realistic",
        quirks={"html_5xx": 0.5, "drop_result": 0, "reject_whole_batch": True},
        hold_seconds=40,
        rate_limit=100,
    ) as server:
        config = server.app.describe()

    expected = dict(REALISTIC_QUIRKS, html_5xx=0.5, reject_whole_batch=1.0)
    del expected["drop_result"]
    assert config["quirks"] == expected
    assert (config["hold_seconds"], config["rate_limit"]["max"]) == (40.0, 100)


def test_it_switches_the_profile_on_and_off_over_http(sandbox_api):
    on = sandbox_api.post("/_sandbox/config", {"profile": "realistic", "seed": 0})
    off = sandbox_api.post("/_sandbox/config", {"quirks": {}})

    assert on.json() == REALISTIC
    assert (off.json()["profile"], off.json()["quirks"]) == (None, {})


def test_it_refuses_an_unknown_profile(tmp_path, sandbox_api):
    with pytest.raises(ValueError, match="unknown profile 'calm'"):
        SandboxServer(tmp_path / "s.sqlite3", profile="calm")

    response = sandbox_api.post("/_sandbox/config", {"profile": "calm"})

    assert response.status_code == 400
    assert sandbox_api.get("/_sandbox/config").json()["profile"] is None


def test_the_profile_only_names_registered_quirks():
    assert set(REALISTIC_QUIRKS) <= set(REGISTRY)


def _outcomes(server: SandboxServer, count: int) -> list[str]:
    api = SandboxAPI(server.url)
    outcomes = []
    for _ in range(count):
        try:
            response = api.post(
                "/crm/v3/objects/line_items/batch/read",
                {"inputs": [], "properties": []},
            )
        except requests.ConnectionError:
            outcomes.append("reset")
        else:
            outcomes.append(str(response.status_code))
    return outcomes


def test_the_profile_repeats_its_picks_for_a_seed(tmp_path):
    runs = []
    for name in ("a", "b"):
        with SandboxServer(
            tmp_path / f"{name}.sqlite3",
            profile="realistic",
            seed=5,
            rate_limit=0,
        ) as server:
            runs.append(_outcomes(server, 300))

    assert runs[0] == runs[1]
    assert {"502", "503", "reset"} & set(runs[0])
    assert runs[0].count("200") >= 290
