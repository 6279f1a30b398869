"""Quirks on the wire: HTML 5xx pages, connection resets, and answers held past the
client's timeout after the write was applied."""

import pytest
import requests

from hubspot_sync.sandbox.server import SandboxServer
from tests.hubspot_sync.conftest import SandboxAPI

CREATE = "/crm/v3/objects/line_items/batch/create"
ONE_LINE = {"inputs": [{"properties": {"name": "a"}}]}
PAGES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
}


def _page(status: int) -> str:
    title = PAGES[status]
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    )


def test_html_5xx_answers_an_html_page_and_does_nothing(sandbox_api, sandbox):
    sandbox.configure(quirks={"html_5xx": 1})

    response = sandbox_api.post(CREATE, ONE_LINE)

    assert response.status_code in PAGES
    assert response.headers["Content-Type"] == "text/html"
    assert response.text == _page(response.status_code)
    assert not [k for k in response.headers if k.startswith("X-HubSpot")]
    assert sandbox.store.count("line_items") == 0


def test_html_5xx_uses_up_no_rate_limit(sandbox_api, sandbox):
    sandbox.configure(quirks={"html_5xx": 1})
    for _ in range(3):
        sandbox_api.post(CREATE, ONE_LINE)
    sandbox.configure(quirks={})

    response = sandbox_api.post(CREATE, ONE_LINE)

    assert response.headers["X-HubSpot-RateLimit-Remaining"] == "189"


def test_html_5xx_picks_the_same_answers_for_the_same_seed(tmp_path):
    def statuses(name: str, seed: int) -> list[int]:
        with SandboxServer(
            tmp_path / f"{name}.sqlite3", quirks={"html_5xx": 0.5}, seed=seed
        ) as server:
            api = SandboxAPI(server.url)
            return [api.post(CREATE, ONE_LINE).status_code for _ in range(12)]

    first, again = statuses("a", 4), statuses("b", 4)

    assert first == again
    assert {201, 502, 503} <= set(first)


def test_html_5xx_leaves_control_calls_alone(sandbox_api, sandbox):
    sandbox.configure(quirks={"html_5xx": 1})

    response = sandbox_api.get("/_sandbox/config")

    assert response.status_code == 200


def test_connection_reset_drops_the_connection_before_doing_anything(
    sandbox_api, sandbox
):
    sandbox.configure(quirks={"connection_reset": 1})

    with pytest.raises(requests.ConnectionError) as raised:
        sandbox_api.post(CREATE, ONE_LINE)

    assert "reset" in str(raised.value).lower()
    assert sandbox.store.count("line_items") == 0
    assert sandbox_api.get("/_sandbox/config").status_code == 200


def test_connection_reset_leaves_the_next_connection_working(sandbox_api, sandbox):
    sandbox.configure(quirks={"connection_reset": 1})
    with pytest.raises(requests.ConnectionError):
        sandbox_api.post(CREATE, ONE_LINE)
    sandbox.configure(quirks={})

    response = sandbox_api.post(CREATE, ONE_LINE)

    assert response.status_code == 201
    assert sandbox.store.count("line_items") == 1


def test_timeout_after_write_applies_the_write_then_outwaits_the_client(
    sandbox_api, sandbox
):
    sandbox.configure(quirks={"timeout_after_write": 1}, hold_seconds=30)

    with pytest.raises(requests.ReadTimeout):
        sandbox_api.post(CREATE, ONE_LINE, timeout=0.2)

    (record,) = sandbox.store.all("line_items")
    assert record.properties["name"] == "a"


def test_timeout_after_write_sends_the_answer_after_the_hold(sandbox_api, sandbox):
    sandbox.configure(quirks={"timeout_after_write": 1}, hold_seconds=0.2)

    response = sandbox_api.post(CREATE, ONE_LINE)

    assert response.status_code == 201
    assert response.json()["results"][0]["properties"]["name"] == "a"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/crm/v3/objects/line_items/batch/read", {"inputs": [], "properties": []}),
        (CREATE, {"inputs": [{"properties": {"price": "-1"}}]}),
    ],
    ids=["read", "refused-write"],
)
def test_timeout_after_write_holds_neither_reads_nor_refused_writes(
    sandbox_api, sandbox, path, body
):
    sandbox.configure(quirks={"timeout_after_write": 1}, hold_seconds=30)

    response = sandbox_api.post(path, body)  # the session's timeout is 10 s

    assert response.status_code in (200, 400)


def test_it_refuses_a_bad_hold(sandbox_api):
    response = sandbox_api.post("/_sandbox/config", {"hold_seconds": -1})

    assert response.status_code == 400
    assert sandbox_api.get("/_sandbox/config").json()["hold_seconds"] == 35.0
