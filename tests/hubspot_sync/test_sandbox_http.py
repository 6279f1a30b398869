import pytest

from hubspot_sync.sandbox.server import SandboxServer
from tests.hubspot_sync.conftest import SandboxAPI

READ = "/crm/v3/objects/line_items/batch/read"
EMPTY_READ = {"inputs": [], "properties": []}
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
    "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


@pytest.fixture
def limited(tmp_path):
    with SandboxServer(
        tmp_path / "limited.sqlite3", rate_limit=3, interval_ms=60_000, daily_limit=100
    ) as server:
        yield SandboxAPI(server.url)


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_it_refuses_a_missing_or_wrong_token(sandbox, token):
    api = SandboxAPI(sandbox.url, token or "")
    if token is None:
        del api.session.headers["Authorization"]

    response = api.post(READ, EMPTY_READ)

    assert response.status_code == 401
    assert response.headers["X-HubSpot-Auth-Failure"] == "401 Unauthorized"
    assert response.json() == {
        "status": "error",
        "message": AUTH_MESSAGE,
        "correlationId": response.headers["X-HubSpot-Correlation-Id"],
        "category": "INVALID_AUTHENTICATION",
    }


def test_it_accepts_a_configured_token(tmp_path):
    with SandboxServer(tmp_path / "s.sqlite3", token="pat-na1-test") as server:
        response = SandboxAPI(server.url, "pat-na1-test").post(READ, EMPTY_READ)

    assert response.status_code == 200


def test_it_sends_hubspots_headers_on_every_answer(sandbox_api):
    first = sandbox_api.post(READ, EMPTY_READ)
    second = sandbox_api.get("/crm/v3/objects/line_items/1")

    assert first.headers["Content-Type"] == "application/json;charset=utf-8"
    assert (
        first.headers["X-HubSpot-Correlation-Id"]
        != second.headers["X-HubSpot-Correlation-Id"]
    )
    assert {
        k: v for k, v in second.headers.items() if k.startswith("X-HubSpot-RateLimit")
    } == {
        "X-HubSpot-RateLimit-Daily": "625000",
        "X-HubSpot-RateLimit-Daily-Remaining": "624998",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Max": "190",
        "X-HubSpot-RateLimit-Remaining": "188",
    }


def test_it_answers_429_over_the_rolling_limit(limited):
    answers = [limited.post(READ, EMPTY_READ) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-HubSpot-RateLimit-Remaining"] for a in answers] == [
        "2",
        "1",
        "0",
        "0",
    ]
    refused = answers[-1]
    body = refused.json()
    assert body == {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": refused.headers["X-HubSpot-Correlation-Id"],
        "policyName": "TEN_SECONDLY_ROLLING",
        "requestId": body["requestId"],
    }
    assert "Retry-After" not in refused.headers


def test_it_does_not_count_refused_requests_against_the_day(limited):
    answers = [limited.post(READ, EMPTY_READ) for _ in range(6)]

    assert answers[-1].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "97"


def test_it_answers_429_over_the_daily_limit(tmp_path):
    with SandboxServer(
        tmp_path / "s.sqlite3", rate_limit=0, daily_limit=2, retry_after=True
    ) as server:
        api = SandboxAPI(server.url)
        answers = [api.post(READ, EMPTY_READ) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json()["policyName"] == "DAILY"
    assert answers[-1].json()["message"] == "You have reached your daily limit."
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert "X-HubSpot-RateLimit-Max" not in answers[-1].headers


def test_it_sends_retry_after_when_asked(limited):
    limited.post("/_sandbox/config", {"rate_limit": {"retry_after": True, "max": 1}})

    answers = [limited.post(READ, EMPTY_READ) for _ in range(2)]

    assert answers[-1].status_code == 429
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60


def test_it_sends_no_rate_limit_headers_when_unlimited(tmp_path):
    with SandboxServer(tmp_path / "s.sqlite3", rate_limit=0, daily_limit=0) as server:
        response = SandboxAPI(server.url).post(READ, EMPTY_READ)

    assert not [k for k in response.headers if k.startswith("X-HubSpot-RateLimit")]


def test_it_does_not_count_control_calls(limited):
    for _ in range(5):
        assert limited.get("/_sandbox/config").status_code == 200

    assert (
        limited.post(READ, EMPTY_READ).headers["X-HubSpot-RateLimit-Remaining"] == "2"
    )


def test_it_describes_and_changes_its_config(sandbox_api):
    response = sandbox_api.post(
        "/_sandbox/config",
        {
            "quirks": {"drop_result": 0.5},
            "rate_limit": {"max": 50, "interval_ms": 1000},
            "seed": 7,
        },
    )

    assert response.status_code == 200
    assert response.json() == {
        "profile": None,
        "quirks": {"drop_result": 0.5},
        "seed": 7,
        "hold_seconds": 35.0,
        "rate_limit": {
            "max": 50,
            "interval_ms": 1000,
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
    assert sandbox_api.post(READ, EMPTY_READ).headers["X-HubSpot-RateLimit-Max"] == "50"


@pytest.mark.parametrize(
    "body",
    [
        {"quirks": {"no_such_quirk": True}},
        {"quirks": {"drop_result": 2}},
        {"rate_limit": {"burst": 3}},
    ],
)
def test_it_refuses_a_bad_config(sandbox_api, body):
    response = sandbox_api.post("/_sandbox/config", body)

    assert response.status_code == 400
    assert sandbox_api.get("/_sandbox/config").json()["quirks"] == {}


def test_it_wipes_records_on_reset(sandbox_api, sandbox):
    sandbox_api.create_deal()

    response = sandbox_api.post("/_sandbox/reset")

    assert response.status_code == 200
    assert sandbox.store.count("deals") == 0


def test_it_guards_control_endpoints_with_the_token(sandbox):
    response = SandboxAPI(sandbox.url, "wrong").post("/_sandbox/reset")

    assert response.status_code == 401


def test_it_answers_404_for_an_unknown_endpoint(sandbox_api):
    response = sandbox_api.get("/crm/v3/nothing")

    assert response.status_code == 404
    assert (
        response.json()["correlationId"] == response.headers["X-HubSpot-Correlation-Id"]
    )


def test_it_refuses_to_bind_beyond_loopback(tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer(tmp_path / "s.sqlite3", host="0.0.0.0")  # noqa: S104  (the address it must refuse)


def test_it_serves_on_ipv6_loopback(tmp_path):
    with SandboxServer(tmp_path / "s.sqlite3", host="::1") as server:
        url = server.url
        response = SandboxAPI(url).post(READ, EMPTY_READ)

    assert url.startswith("http://[::1]:")
    assert response.status_code == 200
