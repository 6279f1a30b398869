"""The webhook receiver: HubSpot's v3 signature, and each event stored once."""

import json
import time
from datetime import UTC, datetime

import pytest
from django.test import RequestFactory, TestCase

from hubspot_sync import webhooks
from hubspot_sync.models import WebhookEvent
from hubspot_sync.sandbox.webhooks import sign_v3

pytestmark = pytest.mark.django_db

SECRET = "test-client-secret"
PATH = "/hubspot/webhooks/"
URI = "http://testserver/hubspot/webhooks/"


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.HUBSPOT_CLIENT_SECRET = SECRET
    settings.TALLY_PUBLIC_URL = ""


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """The event ids handed to the task queue once a request commits (deliver)."""
    handed: list[list[int]] = []
    monkeypatch.setattr(webhooks, "enqueue", handed.append)
    return handed


def event(**fields):
    return {
        "eventId": 100,
        "subscriptionId": 7000001,
        "portalId": 1234567,
        "appId": 1837263,
        "occurredAt": 1788597072520,
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": 40000000001,
        "propertyName": "amount",
        "propertyValue": "0",
        "changeSource": "CRM_UI",
        "sourceId": "userId:98499705",
    } | fields


def now_ms() -> str:
    return str(int(time.time() * 1000))


def deliver(client, body, *, secret=SECRET, uri=URI, path=PATH, timestamp=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    timestamp = timestamp or now_ms()
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            path,
            data=raw,
            content_type="application/json",
            headers={
                "X-HubSpot-Signature-v3": sign_v3(secret, "POST", uri, raw, timestamp),
                "X-HubSpot-Request-Timestamp": timestamp,
            },
        )


def test_both_signature_implementations_give_hubspots_published_test_vector():
    # api-facts §7: HubSpot's Python client, tests/spec/utils/test_signature.py.
    arguments = (
        "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
        "POST",
        "https://www.example.com/webhook_uri",
        b"{'example_field':'example_value'}",
        "1693657560000",
    )
    expected = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
    assert webhooks.signature_v3(*arguments) == expected
    assert sign_v3(*arguments) == expected


def test_a_signed_batch_is_stored_with_its_fields_and_queued(client, queued):
    response = deliver(client, [event(), event(eventId=101, objectId=40000000002)])

    assert response.status_code == 200
    assert response.json() == {"received": 2, "new": 2}
    first = WebhookEvent.objects.order_by("pk").first()
    assert (
        first.event_id,
        first.subscription_id,
        first.portal_id,
        first.subscription_type,
        first.object_type,
        first.object_id,
        first.property_name,
        first.property_value,
        first.change_source,
        first.occurred_at,
        first.attempt_number,
        first.state,
        first.payload,
    ) == (
        100,
        7000001,
        1234567,
        "deal.propertyChange",
        "deals",
        "40000000001",
        "amount",
        "0",
        "CRM_UI",
        datetime(2026, 9, 5, 8, 31, 12, 520000, tzinfo=UTC),
        0,
        WebhookEvent.State.RECEIVED,
        event(),
    )
    assert queued == [
        list(WebhookEvent.objects.order_by("pk").values_list("pk", flat=True))
    ]


def test_a_replayed_or_retried_event_is_stored_once(client, queued):
    assert deliver(client, [event()]).json() == {"received": 1, "new": 1}
    assert deliver(client, [event()]).json() == {"received": 1, "new": 0}
    retried = deliver(client, [event(attemptNumber=1), event(eventId=101)])

    assert retried.json() == {"received": 2, "new": 1}
    assert list(WebhookEvent.objects.values_list("event_id", flat=True)) == [100, 101]
    assert len(queued) == 2  # nothing queued for a batch with nothing new


@pytest.mark.parametrize(
    "change",
    [
        {"secret": "another-secret"},
        {"uri": "http://testserver/hubspot/other/"},
        {"timestamp": str(int(time.time() * 1000) - 5 * 60 * 1000 - 60_000)},
    ],
    ids=["wrong secret", "wrong URI", "stale timestamp"],
)
def test_a_forged_or_stale_request_is_refused_and_nothing_stored(client, change):
    response = deliver(client, [event()], **change)

    assert response.status_code == 401
    assert WebhookEvent.objects.count() == 0


def test_a_tampered_body_is_refused(client):
    timestamp = now_ms()
    signed = json.dumps([event()]).encode()
    response = client.post(
        PATH,
        data=json.dumps([event(propertyValue="1")]),
        content_type="application/json",
        headers={
            "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", URI, signed, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
        },
    )

    assert response.status_code == 401
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-HubSpot-Request-Timestamp": "1"},
        {"X-HubSpot-Signature-v3": "abc", "X-HubSpot-Request-Timestamp": "soon"},
        # A digit to str.isdigit() that int() refuses: once a 500.
        {"X-HubSpot-Signature-v3": "abc", "X-HubSpot-Request-Timestamp": "\u00b2"},
    ],
)
def test_missing_or_malformed_signature_headers_are_refused(client, headers):
    response = client.post(
        PATH, data="[]", content_type="application/json", headers=headers
    )

    assert response.status_code == 401


def test_without_a_client_secret_every_request_is_refused(client, settings):
    settings.HUBSPOT_CLIENT_SECRET = ""

    assert deliver(client, [event()], secret="").status_code == 401
    assert WebhookEvent.objects.count() == 0


def test_the_listed_encodings_in_the_uri_are_decoded_before_checking(client, queued):
    path = PATH + "?tag=a%2Cb%40c%3Ad%20e"
    decoded = "http://testserver/hubspot/webhooks/?tag=a,b@c:d%20e"

    as_hubspot_signs = deliver(client, [event()], path=path, uri=decoded)
    undecoded = deliver(
        client, [event(eventId=2)], path=path, uri=URI + "?tag=a%2Cb%40c%3Ad%20e"
    )

    assert as_hubspot_signs.status_code == 200
    assert undecoded.status_code == 401
    assert webhooks.decode_uri("/a%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B%20") == (
        "/a:/?@!$'()*,;%20"
    )


def test_behind_a_proxy_the_public_url_is_what_is_signed(client, settings, queued):
    settings.TALLY_PUBLIC_URL = "https://tally.example.com"

    public = deliver(client, [event()], uri="https://tally.example.com" + PATH)
    internal = deliver(client, [event(eventId=2)])

    assert (public.status_code, internal.status_code) == (200, 401)


def test_the_five_minute_window_is_exact():
    now = 1_700_000_000_000

    def request(timestamp: int):
        body = b"[]"
        return RequestFactory().post(
            PATH,
            data=body,
            content_type="application/json",
            headers={
                "X-HubSpot-Signature-v3": sign_v3(
                    SECRET, "POST", URI, body, str(timestamp)
                ),
                "X-HubSpot-Request-Timestamp": str(timestamp),
            },
        )

    webhooks.verify(request(now - 300_000), now_ms=now)
    with pytest.raises(webhooks.Refused, match="5 minutes"):
        webhooks.verify(request(now - 300_001), now_ms=now)
    with pytest.raises(webhooks.Refused, match="5 minutes"):
        webhooks.verify(request(now + 300_001), now_ms=now)


@pytest.mark.parametrize(
    "body",
    [
        b"[{not json",
        b"\xff\xfe",
        json.dumps({"events": [event()]}).encode(),
        json.dumps([event(eventId=n) for n in range(100)]).encode(),
        json.dumps([event(), "text"]).encode(),
        json.dumps([event(), event(occurredAt="yesterday")]).encode(),
        json.dumps([event(subscriptionType=None)]).encode(),
        b"[" * 100_000,
    ],
    ids=[
        "not JSON",
        "not UTF-8",
        "not an array",
        "100 events",
        "not an object",
        "bad occurredAt",
        "no type",
        "nested too deep",
    ],
)
def test_a_signed_but_malformed_batch_is_refused_whole(client, body):
    response = deliver(client, body)

    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_an_event_id_that_is_no_number_is_stored_without_one(client, queued):
    """QA: an eventId of "\u00b2" passed str.isdigit() and crashed int(): a 500."""
    response = deliver(client, [event(eventId="\u00b2")])

    assert response.status_code == 200
    assert WebhookEvent.objects.get().event_id is None


def test_99_events_are_taken(client, queued):
    response = deliver(client, [event(eventId=n) for n in range(99)])

    assert response.json() == {"received": 99, "new": 99}


def test_only_post_is_answered(client):
    assert client.get(PATH).status_code == 405


def test_an_oversized_body_gets_a_json_400_and_nothing_is_stored(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = deliver(client, b"[" + b" " * 5000 + b"]")

    assert response.status_code == 400
    assert response.json() == {"error": "the body is larger than HubSpot's batches"}
    assert WebhookEvent.objects.count() == 0


def test_nul_and_lone_surrogates_are_stored_replaced_not_refused(client, queued):
    """JSON allows both as escapes; UTF-8 and PostgreSQL store neither."""
    raw = (
        b'[{"eventId": 7, "occurredAt": 1788597072520, "objectId": 1,'
        b' "subscriptionType": "deal.propertyChange", "propertyName": "dealname",'
        b' "propertyValue": "a\\ud800b\\u0000c"}]'
    )
    response = deliver(client, raw)

    assert response.status_code == 200
    stored = WebhookEvent.objects.get()
    assert stored.property_value == "a\ufffdb\ufffdc"
    assert stored.payload["propertyValue"] == "a\ufffdb\ufffdc"
    # A retry of the same event is still the same event.
    assert deliver(client, raw).json() == {"received": 1, "new": 0}
