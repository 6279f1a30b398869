import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hubspot_sync.client import HubSpotClient, HubSpotError, redact
from hubspot_sync.models import ApiCall
from hubspot_sync.setup import ensure_properties
from tests.hubspot_sync.fakes import FakeTime

pytestmark = pytest.mark.django_db

UPSERT_INPUT = {
    "id": "test:1",
    "idProperty": "tally_order_key",
    "properties": {"tally_order_key": "test:1", "dealname": "Order 1"},
}


def make_client(url: str, token: str = "tok", time: FakeTime | None = None, **kw):
    time = time or FakeTime()
    return HubSpotClient(url, token, sleep=time, budget=time.budget(), **kw)


@pytest.fixture
def scripted_server():
    """A local HTTP server that answers each POST with the next scripted reply."""
    replies: list[tuple[int, str, dict]] = []
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            seen.append(
                {
                    "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    "body": self.rfile.read(length),
                }
            )
            status, body, headers = replies.pop(0)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.replies, server.seen = replies, seen
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def test_it_upserts_and_parses_results(hubspot):
    client = HubSpotClient()
    client.create_property(
        "deals",
        {
            "name": "tally_order_key",
            "label": "k",
            "type": "string",
            "fieldType": "text",
            "groupName": "dealinformation",
            "hasUniqueValue": True,
        },
    )

    answer = client.batch_upsert("deals", [UPSERT_INPUT])

    assert answer.http_status == 200
    assert answer.errors == []
    [result] = answer.results
    assert result.new is True
    assert result.properties["dealname"] == "Order 1"
    assert hubspot.store.count("deals") == 1


def test_it_parses_batch_read_misses_into_one_error_with_every_id(hubspot):
    client = HubSpotClient()

    answer = client.batch_read("line_items", ["101", "102"], ["name"])

    assert answer.http_status == 207
    assert answer.results == []
    [error] = answer.errors
    assert error.category == "OBJECT_NOT_FOUND"
    assert sorted(error.ids) == ["101", "102"]


def test_it_raises_a_permanent_error_for_a_bad_token(hubspot):
    client = HubSpotClient(token="pat-na1-wrong")

    with pytest.raises(HubSpotError) as caught:
        client.batch_read("deals", ["1"], ["dealname"])

    assert caught.value.permanent is True
    assert caught.value.status == 401
    assert caught.value.category == "INVALID_AUTHENTICATION"
    assert ApiCall.objects.count() == 1  # not retried
    assert "pat-na1-wrong" not in ApiCall.objects.get().response_body


def test_it_retries_a_429_then_succeeds_and_stores_each_attempt(scripted_server):
    limited = json.dumps(
        {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "policyName": "TEN_SECONDLY_ROLLING",
            "correlationId": "c1",
        }
    )
    ok = json.dumps(
        {"status": "COMPLETE", "results": [], "startedAt": "x", "completedAt": "y"}
    )
    scripted_server.replies += [
        (429, limited, {}),
        (429, limited, {"Retry-After": "2"}),
        (200, ok, {"X-HubSpot-Correlation-Id": "c3"}),
    ]
    sleep = FakeTime()
    client = make_client(scripted_server.url, time=sleep)

    answer = client.batch_upsert("deals", [UPSERT_INPUT])

    assert answer.http_status == 200
    assert [c.status for c in ApiCall.objects.all()] == [429, 429, 200]
    assert [c.attempt for c in ApiCall.objects.all()] == [1, 2, 3]
    assert len(sleep.waits) == 2
    assert 2.0 <= sleep.waits[1] <= 2.03  # Retry-After honoured, by every worker
    assert scripted_server.seen[0]["auth"] == "Bearer tok"


def test_it_stops_at_once_on_the_daily_limit(scripted_server):
    daily = json.dumps(
        {
            "status": "error",
            "message": "You have reached your daily limit.",
            "errorType": "RATE_LIMIT",
            "policyName": "DAILY",
        }
    )
    scripted_server.replies.append((429, daily, {}))
    client = make_client(scripted_server.url)

    with pytest.raises(HubSpotError) as caught:
        client.batch_upsert("deals", [UPSERT_INPUT])

    assert caught.value.category == "DAILY_LIMIT"
    assert caught.value.permanent is False
    assert ApiCall.objects.count() == 1


def test_it_retries_a_5xx_with_an_html_body_a_bounded_number_of_times(scripted_server):
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    scripted_server.replies += [(502, html, {"Content-Type": "text/html"})] * 3
    sleep = FakeTime()
    client = make_client(scripted_server.url, time=sleep, max_attempts=3)

    with pytest.raises(HubSpotError) as caught:
        client.batch_upsert("deals", [UPSERT_INPUT])

    assert caught.value.permanent is False
    assert caught.value.status == 502
    assert ApiCall.objects.count() == 3
    assert len(sleep.waits) == 2
    assert ApiCall.objects.last().response_body == html


def test_it_does_not_retry_a_validation_error(scripted_server):
    refused = json.dumps(
        {
            "status": "error",
            "message": "Property values were not valid",
            "category": "VALIDATION_ERROR",
            "correlationId": "c",
            "errors": [
                {
                    "message": "x",
                    "code": "INVALID_INTEGER",
                    "context": {"propertyName": ["quantity"]},
                }
            ],
        }
    )
    scripted_server.replies.append((400, refused, {}))
    client = make_client(scripted_server.url)

    with pytest.raises(HubSpotError) as caught:
        client.batch_upsert("deals", [UPSERT_INPUT])

    assert caught.value.permanent is True
    assert caught.value.category == "VALIDATION_ERROR"
    assert caught.value.errors[0]["code"] == "INVALID_INTEGER"
    assert ApiCall.objects.count() == 1


def test_it_retries_an_idempotent_upsert_after_a_timeout(silent_port):
    client = HubSpotClient(
        f"http://127.0.0.1:{silent_port}",
        "tok",
        timeout=0.2,
        max_attempts=2,
        sleep=(time := FakeTime()),
        budget=time.budget(),
    )

    with pytest.raises(HubSpotError) as caught:
        client.batch_upsert("deals", [UPSERT_INPUT])

    assert caught.value.applied_unknown is False
    assert [c.error for c in ApiCall.objects.all()] == ["timed out", "timed out"]


def test_it_never_resends_a_create_that_timed_out(silent_port):
    client = HubSpotClient(
        f"http://127.0.0.1:{silent_port}",
        "tok",
        timeout=0.2,
        max_attempts=3,
        sleep=(time := FakeTime()),
        budget=time.budget(),
    )

    with pytest.raises(HubSpotError) as caught:
        client.batch_create("deals", [{"properties": {"dealname": "x"}}])

    assert caught.value.applied_unknown is True
    assert ApiCall.objects.count() == 1


def test_a_record_value_holding_the_token_reaches_tally_redacted(hubspot):
    """Someone pasted the token into a field in HubSpot: no copy is kept."""
    client = HubSpotClient()
    ensure_properties(client)
    created = client.batch_upsert(
        "deals",
        [
            UPSERT_INPUT
            | {
                "properties": {
                    "tally_order_key": "test:1",
                    "dealname": "leak sandbox-token here",
                }
            }
        ],
    )
    hubspot_id = created.results[0].id

    answer = client.batch_read("deals", [hubspot_id], ["dealname"])

    assert answer.results[0].properties["dealname"] == "leak [redacted] here"
    assert created.results[0].properties["dealname"] == "leak [redacted] here"
    assert not ApiCall.objects.filter(response_body__contains="sandbox-token").exists()


def test_redact_walks_nested_values_and_leaves_the_rest():
    value = {"a": ["x tok y", {"tok": 5}], "b": None, "c": 1.5}

    assert redact(value, "tok") == {
        "a": ["x [redacted] y", {"[redacted]": 5}],
        "b": None,
        "c": 1.5,
    }
    assert redact(value, "") == value


def test_it_redacts_the_token_if_an_answer_echoes_it(scripted_server):
    scripted_server.replies.append((400, '{"message": "bad token pat-na1-secret"}', {}))
    client = make_client(scripted_server.url, "pat-na1-secret")

    with pytest.raises(HubSpotError):
        client.batch_upsert("deals", [UPSERT_INPUT])

    assert ApiCall.objects.get().response_body == '{"message": "bad token [redacted]"}'
