import pytest

from hubspot_sync.ledger import Ledger
from hubspot_sync.models import ItemState, SyncBatch, SyncItem, SyncRun
from hubspot_sync.upserts import send
from tests.hubspot_sync.fakes import FakeHubSpot, FakeTime, batch, echo

pytestmark = pytest.mark.django_db

BAD_KEY = "test:1:6"
NEGATIVE_PRICE = {
    "status": "error",
    "message": "Property values were not valid",
    "correlationId": "c0ffee",
    "category": "VALIDATION_ERROR",
    "errors": [
        {
            "message": "price must not be negative",
            "code": "INVALID_NUMBER",
            "context": {"propertyName": ["price"]},
        }
    ],
}


def make_items(count: int) -> list[SyncItem]:
    items = [
        SyncItem(
            object_type="line_items",
            key=f"test:1:{n}",
            parent_key="test:1",
            properties={"tally_line_key": f"test:1:{n}", "price": "2.55"},
            fingerprint=str(n),
        )
        for n in range(1, count + 1)
    ]
    SyncItem.objects.bulk_create(items)
    return list(SyncItem.objects.order_by("pk"))


def run_send(fake: FakeHubSpot, items: list[SyncItem]) -> None:
    run = SyncRun.objects.create()
    ledger = Ledger(SyncBatch.objects.create(run=run, kind="line_item_upsert"))
    client = FakeTime().client(fake.url)
    with client.recording(run.pk, ledger.batch.pk):
        send(client, ledger, items)
    ledger.flush()


@pytest.fixture
def fake():
    servers = []

    def start(responder):
        servers.append(FakeHubSpot(responder))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def rejecting_bad_key(path, body):
    inputs = body["inputs"]
    if any(i["id"] == BAD_KEY for i in inputs):
        return 400, NEGATIVE_PRICE
    return 200, batch([echo(f"9{n}", i["properties"]) for n, i in enumerate(inputs)])


def test_it_isolates_one_bad_input_by_splitting_a_rejected_batch(fake):
    server = fake(rejecting_bad_key)
    items = make_items(8)

    run_send(server, items)

    sizes = [len(body["inputs"]) for _, body in server.requests]
    assert sizes == [8, 4, 4, 2, 1, 1, 2]
    bad = SyncItem.objects.get(key=BAD_KEY)
    assert bad.state == ItemState.FAILED
    assert bad.outcomes.get().detail == {
        "http_status": 400,
        "category": "VALIDATION_ERROR",
        "code": "INVALID_NUMBER",
        "property": "price",
        "message": "Property values were not valid",
    }
    assert bad.reason == (
        "HubSpot refuses negative prices and amounts (property price). "
        "HubSpot said: price must not be negative"
    )
    assert bad.next_step.startswith("Fix the order in the store")
    others = SyncItem.objects.exclude(key=BAD_KEY)
    assert set(others.values_list("state", flat=True)) == {ItemState.VERIFIED}
    assert [o.outcome for o in others.first().outcomes.all()] == ["verified"]


def test_it_flags_an_input_that_is_neither_echoed_nor_found(fake):
    def responder(path, body):
        if path.endswith("/batch/upsert"):
            kept = body["inputs"][:-1]
            return 200, batch(
                [echo(f"9{n}", i["properties"]) for n, i in enumerate(kept)]
            )
        missing = [i["id"] for i in body["inputs"]]
        return 207, batch(
            [],
            [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "gone",
                    "context": {"ids": missing},
                    "errors": [],
                    "links": {},
                }
            ],
        )

    server = fake(responder)
    items = make_items(3)

    run_send(server, items)

    assert server.paths() == [
        "/crm/v3/objects/line_items/batch/upsert",
        "/crm/v3/objects/line_items/batch/read",
    ]
    read = server.requests[1][1]
    assert read["idProperty"] == "tally_line_key"
    assert [i["id"] for i in read["inputs"]] == ["test:1:3"]
    lost = SyncItem.objects.get(key="test:1:3")
    assert lost.state == ItemState.UNREPORTED_SKIP
    assert "does not find it" in lost.reason
    assert [o.outcome for o in lost.outcomes.all()] == ["unreported_skip", "not_found"]
    assert SyncItem.objects.filter(state=ItemState.VERIFIED).count() == 2


def test_it_records_a_mismatch_with_both_values(fake):
    def responder(path, body):
        results = [
            echo(f"9{n}", {**i["properties"], "price": "2.5"})
            for n, i in enumerate(body["inputs"])
        ]
        return 200, batch(results)

    server = fake(responder)
    [item] = make_items(1)

    run_send(server, [item])

    item.refresh_from_db()
    assert item.state == ItemState.MISMATCH
    assert item.outcomes.get().detail["mismatches"] == {
        "price": {"store": "2.55", "hubspot": "2.5"}
    }


def test_it_leaves_a_write_unknown_when_neither_write_nor_read_get_through(fake):
    server = fake(lambda path, body: (503, {"message": "unavailable"}))
    items = make_items(2)

    run_send(server, items)

    assert (
        server.paths()
        == ["/crm/v3/objects/line_items/batch/upsert"] * 5
        + ["/crm/v3/objects/line_items/batch/read"] * 5
    )  # HUBSPOT_MAX_ATTEMPTS each
    for item in SyncItem.objects.all():
        assert item.state == ItemState.UNKNOWN
        assert item.attempts == 1
        assert item.next_step.startswith("Nothing to do: the next sync settles it")


def test_it_settles_a_write_that_timed_out_by_reading_the_store_key(fake):
    def responder(path, body):
        if path.endswith("/batch/upsert"):
            return 502, {"message": "bad gateway"}
        # The write landed for the first input only.
        first = body["inputs"][0]["id"]
        return 207, batch(
            [echo("91", {"tally_line_key": first, "price": "2.55"}, new=False)],
            [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "gone",
                    "context": {"ids": [body["inputs"][1]["id"]]},
                    "errors": [],
                    "links": {},
                }
            ],
        )

    server = fake(responder)
    landed, lost = make_items(2)

    run_send(server, [landed, lost])

    landed.refresh_from_db()
    lost.refresh_from_db()
    assert (landed.state, landed.hubspot_id) == (ItemState.VERIFIED, "91")
    assert [o.outcome for o in landed.outcomes.all()] == ["unknown", "verified"]
    assert lost.state == ItemState.TRANSIENT
    assert [o.outcome for o in lost.outcomes.all()] == ["unknown", "transient"]


def test_it_resends_a_write_the_read_shows_did_not_land(fake):
    def responder(path, body):
        if path.endswith("/batch/upsert"):
            return 503, {"message": "unavailable"}
        # HubSpot still holds the old price: the update never landed.
        key = body["inputs"][0]["id"]
        return 200, batch([echo("91", {"tally_line_key": key, "price": "1.00"})])

    server = fake(responder)
    [item] = make_items(1)

    run_send(server, [item])

    item.refresh_from_db()
    assert item.state == ItemState.TRANSIENT
    assert [o.outcome for o in item.outcomes.all()] == ["unknown", "transient"]
