import pytest

from hubspot_sync.associations import send
from hubspot_sync.ledger import Ledger
from hubspot_sync.models import Association, SyncBatch, SyncItem, SyncRun
from tests.hubspot_sync.fakes import FakeHubSpot, FakeTime, batch

pytestmark = pytest.mark.django_db

CREATE = "/crm/v4/associations/line_items/deals/batch/create"
READ = "/crm/v4/associations/line_items/deals/batch/read"


def make_lines(deal_id: str = "500") -> list[SyncItem]:
    SyncItem.objects.create(
        object_type="deals", key="test:1", hubspot_id=deal_id, fingerprint="d"
    )
    for n in (1, 2):
        SyncItem.objects.create(
            object_type="line_items",
            key=f"test:1:{n}",
            parent_key="test:1",
            hubspot_id=f"10{n}",
            state="verified",
            association=Association.PENDING,
            fingerprint=str(n),
        )
    return list(SyncItem.objects.filter(object_type="line_items").order_by("pk"))


def link(from_id: str, to_id: str) -> dict:
    return {
        "fromObjectTypeId": "0-8",
        "fromObjectId": from_id,
        "toObjectTypeId": "0-3",
        "toObjectId": to_id,
        "labels": [],
    }


def run_send(responder, items) -> FakeHubSpot:
    fake = FakeHubSpot(responder)
    run = SyncRun.objects.create()
    ledger = Ledger(SyncBatch.objects.create(run=run, kind="association"))
    client = FakeTime().client(fake.url)
    try:
        send(client, ledger, items)
        ledger.flush()
    finally:
        fake.stop()
    return fake


def history(key: str) -> list[tuple[str, dict]]:
    item = SyncItem.objects.get(key=key)
    return [(o.outcome, o.detail) for o in item.outcomes.all()]


def test_it_links_each_line_item_to_its_deal():
    items = make_lines()

    fake = run_send(
        lambda p, b: (201, batch([link("101", "500"), link("102", "500")])), items
    )

    assert fake.paths() == [CREATE]
    body = fake.requests[0][1]
    assert body["inputs"][0] == {
        "from": {"id": "101"},
        "to": {"id": "500"},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}],
    }
    lines = SyncItem.objects.filter(object_type="line_items")
    assert set(lines.values_list("association", "associated_to")) == {
        (Association.LINKED, "500")
    }


def test_it_checks_an_empty_complete_answer_by_reading_and_repairs_the_gap():
    items = make_lines()
    creates = []

    def responder(path, body):
        if path == CREATE:
            creates.append(body)
            if len(creates) == 1:
                return 201, batch([])  # COMPLETE, links nothing it says
            return 201, batch([link("102", "500")])
        # The read shows that the first link did land after all.
        return 200, batch(
            [
                {
                    "from": {"id": "101"},
                    "to": [{"toObjectId": "500", "associationTypes": []}],
                }
            ]
        )

    fake = run_send(responder, items)

    assert fake.paths() == [CREATE, READ, CREATE]
    assert [i["from"]["id"] for i in creates[1]["inputs"]] == ["102"]
    assert history("test:1:1") == [
        ("associated", {"association": True, "settled_by": "read"})
    ]
    assert history("test:1:2") == [
        ("associated", {"association": True, "repair": True})
    ]
    assert set(
        SyncItem.objects.filter(object_type="line_items").values_list(
            "association", flat=True
        )
    ) == {Association.LINKED}


def test_it_flags_a_link_hubspot_never_makes():
    items = make_lines()

    def responder(path, body):
        if path == CREATE:
            return 201, batch([])
        return 200, batch([])

    fake = run_send(responder, items)

    assert fake.paths() == [CREATE, READ, CREATE]
    line = SyncItem.objects.get(key="test:1:1")
    assert line.association == Association.FAILED
    assert line.reason_code == "ASSOCIATION_UNREPORTED"
    assert line.state == "verified"  # the line item itself is fine


def test_it_does_not_call_hubspot_for_a_line_whose_deal_is_not_there():
    items = make_lines(deal_id="")

    fake = run_send(lambda p, b: (500, {}), items)

    assert fake.requests == []
    line = SyncItem.objects.get(key="test:1:2")
    assert line.association == Association.FAILED
    assert line.reason_code == "DEAL_NOT_SYNCED"


def not_found(ids: list[str]) -> dict:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": "Could not get some LINE_ITEM objects, they may be deleted or not "
        "exist. Check that ids are valid.",
        "context": {"ids": ids},
        "errors": [],
        "links": {},
    }


def test_it_re_creates_a_line_item_hubspot_no_longer_has(settings):
    settings.TALLY_ON_NOT_FOUND = "recreate"
    items = make_lines()

    run_send(
        lambda p, b: (207, batch([link("102", "500")], [not_found(["101"])])), items
    )

    gone = SyncItem.objects.get(key="test:1:1")
    assert (gone.state, gone.hubspot_id, gone.association) == (
        "pending",
        "",
        Association.PENDING,
    )
    assert gone.next_step.startswith("Nothing to do: the next sync re-creates it")
    assert history("test:1:1") == [("not_found", {"gone": True})]
    assert SyncItem.objects.get(key="test:1:2").association == Association.LINKED


def test_it_waits_for_a_person_when_told_to(settings):
    settings.TALLY_ON_NOT_FOUND = "wait"
    items = make_lines()

    run_send(
        lambda p, b: (207, batch([link("102", "500")], [not_found(["101"])])), items
    )

    gone = SyncItem.objects.get(key="test:1:1")
    # Kept as it was, but no longer "linked": the link went with the record.
    assert (gone.state, gone.hubspot_id, gone.association) == (
        "not_found",
        "101",
        Association.PENDING,
    )
    assert "sync_hubspot --retry not_found" in gone.next_step


def test_it_flags_the_deal_and_its_lines_when_the_deal_is_gone(settings):
    settings.TALLY_ON_NOT_FOUND = "wait"
    items = make_lines()

    run_send(lambda p, b: (207, batch([], [not_found(["500"])])), items)

    deal = SyncItem.objects.get(key="test:1")
    assert deal.state == "not_found"
    for line in SyncItem.objects.filter(object_type="line_items"):
        assert (line.state, line.association) == ("verified", Association.FAILED)
        assert line.reason_code == "DEAL_NOT_SYNCED"


def test_an_association_read_of_more_than_1000_records_takes_two_calls(hubspot):
    """HubSpot's v4 batch read takes 1,000 records; the demo once sent 2,000."""
    from hubspot_sync.client import HubSpotClient
    from hubspot_sync.models import ApiCall

    client = HubSpotClient()
    try:
        links = client.batch_read_associations(
            "line_items", "deals", [str(n) for n in range(1, 1501)]
        )
    finally:
        client.close()

    assert links == {}
    bodies = list(ApiCall.objects.order_by("pk").values_list("request_body", "status"))
    assert [body.count('"id"') for body, _ in bodies] == [1000, 500]
    assert {status for _, status in bodies} <= {200, 207}
