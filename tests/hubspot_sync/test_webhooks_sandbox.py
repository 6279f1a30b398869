"""The sandbox delivers HubSpot's webhooks: signed v3 batches, from a thread."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hubspot_sync.sandbox.history import APP_ID
from hubspot_sync.sandbox.server import SandboxServer
from hubspot_sync.sandbox.webhooks import SUBSCRIPTION_IDS, signed_uri
from hubspot_sync.webhooks import signature_v3
from tests.hubspot_sync.conftest import SandboxAPI

SECRET = "sandbox-test-secret"


class Receiver:
    """A loopback endpoint that records what it is sent and answers ``statuses``."""

    def __init__(self, statuses=()):
        self.requests: list[dict] = []
        self.statuses = list(statuses)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.requests.append(
                    {"path": self.path, "headers": self.headers, "body": body}
                )
                status = owner.statuses.pop(0) if owner.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/?app=t%2C1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def events(self) -> list[dict]:
        return [e for r in self.requests for e in json.loads(r["body"])]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def delivering(tmp_path, receiver):
    with SandboxServer(
        tmp_path / "sandbox.sqlite3", webhook_url=receiver.url, webhook_secret=SECRET
    ) as server:
        yield server


def api(server) -> SandboxAPI:
    return SandboxAPI(server.url)


def test_an_edit_by_a_person_is_delivered_signed_with_hubspots_shape(
    delivering, receiver
):
    sandbox = api(delivering)
    deal = sandbox.create_deal(amount="10")  # the app's own write: not delivered
    assert delivering.app.webhooks.flush()
    assert receiver.requests == []

    edited = sandbox.post(
        f"/_sandbox/edit/deals/{deal}", {"properties": {"amount": "12.5"}}
    )
    assert edited.status_code == 200
    assert delivering.app.webhooks.flush()

    (request,) = receiver.requests
    (event,) = json.loads(request["body"])
    history = delivering.store.history([deal], ["amount"])[deal]["amount"][0]
    assert event == {
        "eventId": event["eventId"],
        "subscriptionId": SUBSCRIPTION_IDS["deal.propertyChange"],
        "portalId": 1234567,
        "appId": int(APP_ID),
        "occurredAt": history.timestamp_ms,
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": int(deal),
        "changeSource": "CRM_UI",
        "sourceId": "userId:2934716",
        "propertyName": "amount",
        "propertyValue": "12.5",
    }
    headers = request["headers"]
    assert request["path"] == "/hooks/?app=t%2C1"
    # The URI is signed with the listed encodings decoded (api-facts §7).
    uri = receiver.url.replace("%2C", ",")
    assert signed_uri(receiver.url) == uri
    assert headers["X-HubSpot-Signature-v3"] == signature_v3(
        SECRET, "POST", uri, request["body"], headers["X-HubSpot-Request-Timestamp"]
    )


def test_archive_merge_and_plant_are_delivered(delivering, receiver):
    sandbox = api(delivering)
    first, second, third = (
        sandbox.plant("line_items", name=f"Line {n}") for n in (1, 2, 3)
    )
    sandbox.merge("line_items", first, second)
    assert sandbox.post(f"/_sandbox/archive/line_items/{third}").status_code == 200
    assert delivering.app.webhooks.flush()

    shapes = [
        (
            e["subscriptionType"],
            e["objectId"],
            e["changeSource"],
            e.get("changeFlag"),
            e.get("primaryObjectId"),
            e.get("mergedObjectIds"),
            e.get("newObjectId"),
        )
        for e in receiver.events
    ]
    ids = [int(i) for i in (first, second, third)]
    assert shapes == [
        ("line_item.creation", ids[0], "CRM_UI", "CREATED", None, None, None),
        ("line_item.creation", ids[1], "CRM_UI", "CREATED", None, None, None),
        ("line_item.creation", ids[2], "CRM_UI", "CREATED", None, None, None),
        ("line_item.merge", ids[0], "CRM_UI", None, ids[0], [ids[1]], ids[0]),
        ("line_item.deletion", ids[2], "CRM_UI", "DELETED", None, None, None),
    ]
    assert len({e["eventId"] for e in receiver.events}) == 5


def test_a_restore_is_delivered(delivering, receiver):
    sandbox = api(delivering)
    line = sandbox.plant("line_items", name="Line 1")
    assert sandbox.post(f"/_sandbox/archive/line_items/{line}").status_code == 200
    assert sandbox.post(f"/_sandbox/restore/line_items/{line}").status_code == 200
    assert delivering.app.webhooks.flush()

    assert [
        (e["subscriptionType"], e["objectId"], e["changeSource"])
        for e in receiver.events
    ] == [
        ("line_item.creation", int(line), "CRM_UI"),
        ("line_item.deletion", int(line), "CRM_UI"),
        ("line_item.restore", int(line), "CRM_UI"),
    ]


def test_a_link_removed_by_a_person_is_delivered_both_ways(delivering, receiver):
    sandbox = api(delivering)
    deal = sandbox.plant("deals", dealname="Deal")
    line = sandbox.plant("line_items", name="Line")
    types = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}]
    made = sandbox.post(
        "/crm/v4/associations/line_items/deals/batch/create",
        {"inputs": [{"from": {"id": line}, "to": {"id": deal}, "types": types}]},
    )
    assert made.status_code == 201
    assert delivering.app.webhooks.flush()
    before = len(receiver.events)  # the link the app made is its own: not sent

    response = sandbox.post(f"/_sandbox/unlink/line_items/{line}/deals/{deal}")
    again = sandbox.post(f"/_sandbox/unlink/line_items/{line}/deals/{deal}")
    assert delivering.app.webhooks.flush()

    assert (response.status_code, response.json()) == (200, {"removed": 2})
    assert again.status_code == 404
    assert [
        (
            e["subscriptionType"],
            e["fromObjectId"],
            e["toObjectId"],
            e["associationType"],
            e["associationRemoved"],
            e["changeSource"],
        )
        for e in receiver.events[before:]
    ] == [
        (
            "line_item.associationChange",
            int(line),
            int(deal),
            "LINE_ITEM_TO_DEAL",
            True,
            "CRM_UI",
        ),
        (
            "deal.associationChange",
            int(deal),
            int(line),
            "DEAL_TO_LINE_ITEM",
            True,
            "CRM_UI",
        ),
    ]
    assert delivering.store.links_from([deal], "line_items")[deal] == []


def test_the_apps_own_writes_are_delivered_when_asked(tmp_path, receiver):
    with SandboxServer(
        tmp_path / "s.sqlite3",
        webhook_url=receiver.url,
        webhook_secret=SECRET,
        webhook_own_changes=True,
    ) as server:
        sandbox = api(server)
        deal = sandbox.create_deal(amount="10")
        (line,) = sandbox.create_line_items({"name": "Mug", "quantity": "2"})
        link = sandbox.post(
            "/crm/v4/associations/line_items/deals/batch/create",
            {
                "inputs": [
                    {
                        "from": {"id": line},
                        "to": {"id": deal},
                        "types": [
                            {
                                "associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": 20,
                            }
                        ],
                    }
                ]
            },
        )
        assert link.status_code == 201, link.text
        patched = sandbox.patch(
            f"/crm/v3/objects/deals/{deal}", {"properties": {"amount": "11"}}
        )
        assert patched.status_code == 200
        assert (
            sandbox.post(
                "/crm/v3/objects/deals/batch/archive", {"inputs": [{"id": deal}]}
            ).status_code
            == 204
        )
        assert server.app.webhooks.flush()

    shapes = [
        (
            e["subscriptionType"],
            e["objectId"],
            e["changeSource"],
            e["sourceId"],
            e.get("propertyName"),
            e.get("associationType"),
        )
        for e in receiver.events
    ]
    assert shapes == [
        ("deal.creation", int(deal), "INTEGRATION", APP_ID, None, None),
        ("line_item.creation", int(line), "INTEGRATION", APP_ID, None, None),
        (
            "line_item.associationChange",
            int(line),
            "INTEGRATION",
            APP_ID,
            None,
            "LINE_ITEM_TO_DEAL",
        ),
        (
            "deal.associationChange",
            int(deal),
            "INTEGRATION",
            APP_ID,
            None,
            "DEAL_TO_LINE_ITEM",
        ),
        ("deal.propertyChange", int(deal), "INTEGRATION", APP_ID, "amount", None),
        ("deal.deletion", int(deal), "INTEGRATION", APP_ID, None, None),
    ]


def test_a_refused_write_delivers_nothing(delivering, receiver):
    sandbox = api(delivering)
    deal = sandbox.plant("deals", dealname="Order 1")
    refused = sandbox.post(
        f"/_sandbox/edit/deals/{deal}", {"properties": {"amount": "abc"}}
    )
    assert refused.status_code == 400
    assert delivering.app.webhooks.flush()

    assert [e["subscriptionType"] for e in receiver.events] == ["deal.creation"]


def test_events_go_in_batches_under_100(delivering, receiver):
    sandbox = api(delivering)
    deal = sandbox.plant("deals", dealname="Order 1")
    assert delivering.app.webhooks.flush()
    receiver.requests.clear()
    # One edit of 150 properties would need custom ones; edit one value 150 times.
    for n in range(150):
        sandbox.post(f"/_sandbox/edit/deals/{deal}", {"properties": {"amount": str(n)}})
    assert delivering.app.webhooks.flush()

    sizes = [len(json.loads(r["body"])) for r in receiver.requests]
    assert sum(sizes) == 150
    assert max(sizes) <= 99
    values = [e["propertyValue"] for e in receiver.events]
    assert values == [str(n) for n in range(150)]


def test_a_failed_delivery_is_tried_again_with_the_next_attempt_number(
    tmp_path,
):
    receiver = Receiver(statuses=[503])
    try:
        with SandboxServer(
            tmp_path / "s.sqlite3", webhook_url=receiver.url, webhook_secret=SECRET
        ) as server:
            api(server).plant("deals", dealname="Order 1")
            assert server.app.webhooks.flush()
            described = server.app.describe()["webhooks"]
    finally:
        receiver.close()

    attempts = [json.loads(r["body"])[0]["attemptNumber"] for r in receiver.requests]
    assert attempts == [0, 1]
    assert (described["delivered"], described["failed"]) == (1, 0)


@pytest.mark.parametrize(
    "url",
    ["http://example.com/hooks/", "http://10.0.0.1/hooks/", "ftp://127.0.0.1/x"],
)
def test_it_refuses_a_webhook_url_off_this_machine(tmp_path, url):
    with pytest.raises(ValueError, match="webhook"):
        SandboxServer(tmp_path / "s.sqlite3", webhook_url=url, webhook_secret=SECRET)


def test_the_config_endpoint_switches_delivery_and_never_shows_the_secret(
    sandbox, receiver
):
    session = SandboxAPI(sandbox.url)
    far = session.post(
        "/_sandbox/config",
        {"webhooks": {"url": "http://169.254.169.254/", "secret": SECRET}},
    )
    assert far.status_code == 400
    assert session.get("/_sandbox/config").json()["webhooks"]["url"] is None

    on = session.post(
        "/_sandbox/config", {"webhooks": {"url": receiver.url, "secret": SECRET}}
    )
    assert on.status_code == 200
    assert on.json()["webhooks"] == {
        "url": receiver.url,
        "own_changes": False,
        "delivered": 0,
        "failed": 0,
        "queued": 0,
    }
    assert SECRET not in on.text
    session.plant("deals", dealname="Order 1")
    assert sandbox.app.webhooks.flush()
    assert len(receiver.events) == 1

    off = session.post("/_sandbox/config", {"webhooks": None})
    assert off.json()["webhooks"]["url"] is None
    session.plant("deals", dealname="Order 2")
    assert sandbox.app.webhooks.flush()
    assert len(receiver.events) == 1


def test_the_command_takes_the_webhook_options(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="this machine only"):
        call_command(
            "hubspot_sandbox",
            "--db",
            str(tmp_path / "s.sqlite3"),
            "--port",
            "0",
            "--webhook-url",
            "http://example.com/hooks/",
            "--webhook-secret",
            SECRET,
        )
    with pytest.raises(CommandError, match="secret"):
        call_command(
            "hubspot_sandbox",
            "--db",
            str(tmp_path / "s.sqlite3"),
            "--port",
            "0",
            "--webhook-url",
            "http://127.0.0.1:9/hooks/",
        )


def test_rows_of_the_apps_own_imports_are_its_own_changes():
    """The demo's import backfill once echoed 80,000 creation events back."""
    from hubspot_sync.sandbox.webhooks import _own

    assert _own({"changeSource": "IMPORT", "sourceId": "51203"}) is True
    assert _own({"changeSource": "CRM_UI", "sourceId": "userId:2934716"}) is False
