"""Reconciliation sweeps against the sandbox: every category from a real state."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from hubspot_sync import engine
from hubspot_sync.models import (
    ApiCall,
    Association,
    ItemOutcome,
    ItemState,
    Outcome,
    SyncItem,
)
from reconcile.models import CategorySnapshot, Order, OrderProblem, Orphan, Sweep
from reconcile.sweep import create_sweep, run_sweep, run_sweep_inline
from tests.factories import item, make_staged_order, make_store
from tests.hubspot_sync.conftest import SandboxAPI

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(hubspot) -> SandboxAPI:
    return SandboxAPI(hubspot.url)


@pytest.fixture
def no_scan(settings):
    settings.TALLY_SWEEP_ORPHANS = False


def sync() -> None:
    run = engine.run_inline(engine.create_run().pk)
    assert run.state == "done"


def synced_order(number: str = "1001", lines: int = 2, **kwargs) -> Order:
    store = make_store() if not Order.objects.exists() else Order.objects.first().store
    order = make_staged_order(store, number, lines=lines, **kwargs)
    sync()
    return order


def sweep() -> Sweep:
    return run_sweep_inline(create_sweep().pk)


def edit(api: SandboxAPI, kind: str, object_id: str, user_id: int = 4242, **props):
    body = {"properties": props, "userId": user_id}
    response = api.post(f"/_sandbox/edit/{kind}/{object_id}", body)
    assert response.status_code == 200, response.text
    return response.json()


def outcomes_since(pk: int) -> list[tuple[str, str]]:
    return list(
        ItemOutcome.objects.filter(pk__gt=pk)
        .order_by("pk")
        .values_list("item__key", "outcome")
    )


def last_outcome_pk() -> int:
    return ItemOutcome.objects.order_by("-pk").values_list("pk", flat=True).first()


def problems() -> list[tuple[str, str, str, str]]:
    return sorted(
        OrderProblem.objects.values_list(
            "order__number", "code", "store_value", "hubspot_value"
        )
    )


# In sync


def test_it_finds_unchanged_items_in_sync_without_new_outcomes(hubspot):
    synced_order(lines=2)
    before, calls = last_outcome_pk(), ApiCall.objects.count()

    done = sweep()

    assert done.state == Sweep.State.DONE
    assert outcomes_since(before) == []
    assert done.counts["in-sync"] == 3
    assert {k: v for k, v in done.counts.items() if v} == {"in-sync": 3}
    # Two key searches (deals, line items), two reads, one association read.
    assert done.calls == 5
    assert ApiCall.objects.count() - calls == 5
    assert (done.items_total, done.items_checked) == (3, 3)
    assert list(CategorySnapshot.objects.values_list("counts", flat=True)) == [
        done.counts
    ]
    assert OrderProblem.objects.count() == 0


def test_it_reads_a_hundred_items_a_call_and_history_only_for_differing_ones(
    hubspot, api, no_scan
):
    for number in ("1001", "1002", "1003"):
        make_staged_order(
            make_store() if number == "1001" else Order.objects.first().store,
            number,
            lines=40,
        )
    sync()
    first_lines = SyncItem.objects.filter(object_type="line_items").order_by("pk")[:60]
    for line in first_lines:
        edit(api, "line_items", line.hubspot_id, name="Renamed in HubSpot")
    before = last_outcome_pk()
    seen = []

    done = run_sweep_inline(
        create_sweep().pk, progress=lambda s: seen.append((s.items_checked, s.calls))
    )

    # Reads: 1 for 3 deals, 2 for 120 lines; history: 2 for 60 lines (50 + 10);
    # one association read for the 3 deals.
    assert done.calls == 1 + 2 + 2 + 1
    assert seen == [(3, 1), (103, 4), (123, 5), (123, 6)]
    history_reads = ApiCall.objects.filter(
        request_body__contains='"propertiesWithHistory": ["name"]'
    )
    assert [c.request_body.count('{"id":') for c in history_reads] == [50, 10]
    assert len(outcomes_since(before)) == 60
    assert done.counts["mismatch"] == 60
    assert done.counts["in-sync"] == 63


# Mismatch


def test_it_flags_a_field_edited_in_hubspot_with_both_values_and_when(
    hubspot, api, no_scan
):
    synced_order(lines=2)
    line = item("shop:1001:1")
    edited = edit(api, "line_items", line.hubspot_id, user_id=4242, price="3")
    before = last_outcome_pk()

    done = sweep()

    line.refresh_from_db()
    assert line.state == ItemState.MISMATCH
    assert line.reason_code == "MISMATCH"
    outcome = ItemOutcome.objects.get(pk__gt=before)
    assert outcome.outcome == Outcome.MISMATCH
    assert outcome.detail == {
        "source": "sweep",
        "hubspot_id": line.hubspot_id,
        "mismatches": {
            "price": {
                "store": "2.55",
                "hubspot": "3",
                "changed_at": edited["properties"]["hs_lastmodifieddate"],
                "source": "CRM_UI",
                "source_id": "userId:4242",
                "user_id": 4242,
            }
        },
    }
    assert done.counts["mismatch"] == 1
    # The line's amount changed with its price: the deal no longer adds up.
    assert problems() == [("1001", "AMOUNT_SUM", "30.6", "deal 30.6, lines 33.3")]


def test_a_second_sweep_over_the_same_mismatch_adds_no_outcome(hubspot, api, no_scan):
    synced_order(lines=1)
    edit(api, "line_items", item("shop:1001:1").hubspot_id, name="Other")
    sweep()
    before = last_outcome_pk()

    again = sweep()

    assert outcomes_since(before) == []
    assert again.counts["mismatch"] == 1


def test_a_changed_diff_adds_an_outcome_and_a_fix_in_hubspot_brings_it_back(
    hubspot, api, no_scan
):
    synced_order(lines=1)
    line_id = item("shop:1001:1").hubspot_id
    edit(api, "line_items", line_id, name="Other")
    sweep()
    edit(api, "line_items", line_id, name="Another")
    before = last_outcome_pk()

    sweep()
    edit(api, "line_items", line_id, name="Item 1")
    fixed = sweep()

    assert outcomes_since(before) == [
        ("shop:1001:1", Outcome.MISMATCH),
        ("shop:1001:1", Outcome.VERIFIED),
    ]
    assert item("shop:1001:1").state == ItemState.VERIFIED
    assert item("shop:1001:1").reason_code == ""
    assert fixed.counts["in-sync"] == 2
    assert fixed.counts["mismatch"] == 0


def test_a_resync_after_a_mismatch_leaves_the_next_sweep_in_sync(hubspot, api, no_scan):
    synced_order(lines=1)
    edit(api, "deals", item("shop:1001").hubspot_id, amount="40")
    flagged = sweep()
    engine.run_inline(engine.create_run(retry=("mismatch",)).pk)

    fixed = sweep()

    assert flagged.counts["mismatch"] == 1
    assert problems() == []
    assert fixed.counts["mismatch"] == 0
    assert fixed.counts["in-sync"] == 2
    assert fixed.counts["order-problem"] == 0


# Missing


def test_it_tells_an_archived_record_from_a_deleted_one(hubspot, api, no_scan):
    synced_order(lines=2)
    archived = item("shop:1001:1")
    response = api.post(f"/_sandbox/archive/line_items/{archived.hubspot_id}")
    assert response.status_code == 200
    # An ID HubSpot never had: gone for good, as after a permanent deletion.
    SyncItem.objects.filter(key="shop:1001:2").update(hubspot_id="39999999999")
    before = last_outcome_pk()

    done = sweep()

    archived.refresh_from_db()
    deleted = item("shop:1001:2")
    assert (archived.state, archived.reason_code) == ("not_found", "RECORD_ARCHIVED")
    assert (deleted.state, deleted.reason_code) == ("not_found", "RECORD_DELETED")
    assert deleted.next_step == (
        "Retry (the button, or `python manage.py sync_hubspot --retry not_found`) "
        "to create it anew from the store."
    )
    details = dict(
        ItemOutcome.objects.filter(pk__gt=before).values_list("item__key", "detail")
    )
    assert details == {
        "shop:1001:1": {
            "source": "sweep",
            "hubspot_id": archived.hubspot_id,
            "archived": True,
        },
        "shop:1001:2": {
            "source": "sweep",
            "hubspot_id": "39999999999",
            "deleted": True,
        },
    }
    # Reads: deal, lines, the archived read, one merged-id search; associations.
    assert done.calls == 5
    assert done.counts["missing"] == 2
    # The deal still links the second line's real record, which Tally no
    # longer names: its amount is unknown, so no sum is compared.
    assert problems() == [("1001", "LINE_COUNT", "2", "1")]


def test_it_finds_a_merged_record_and_its_survivor(hubspot, api, no_scan):
    synced_order(lines=2)
    first, second = item("shop:1001:1"), item("shop:1001:2")
    api.merge("line_items", first.hubspot_id, second.hubspot_id)

    sweep()

    second.refresh_from_db()
    assert (second.state, second.reason_code) == ("not_found", "RECORD_MERGED")
    assert second.reason.startswith(
        f"Someone merged the record into HubSpot record {first.hubspot_id}"
    )
    assert ItemOutcome.objects.filter(item=second).last().detail == {
        "source": "sweep",
        "hubspot_id": second.hubspot_id,
        "merged_into": first.hubspot_id,
    }
    assert item("shop:1001:1").state == ItemState.VERIFIED
    assert problems() == [
        ("1001", "AMOUNT_SUM", "30.6", "deal 30.6, lines 15.3"),
        ("1001", "LINE_COUNT", "2", "1"),
    ]


def test_a_record_a_sweep_finds_deleted_waits_for_a_person(
    hubspot, api, no_scan, settings
):
    """Even with TALLY_ON_NOT_FOUND=recreate: the deleted record can still be
    restored in HubSpot, and a copy made meanwhile would be a duplicate."""
    settings.TALLY_ON_NOT_FOUND = "recreate"
    synced_order(lines=1)
    line = item("shop:1001:1")
    api.post(f"/_sandbox/archive/line_items/{line.hubspot_id}")
    sweep()

    run = engine.run_inline(engine.create_run().pk)

    assert run.items_total == 0
    assert item("shop:1001:1").state == ItemState.NOT_FOUND
    assert hubspot.store.count("line_items") == 0
    # The person's retry re-creates it.
    engine.run_inline(engine.create_run(retry=("not_found",)).pk)
    recreated = item("shop:1001:1")
    assert recreated.state == ItemState.VERIFIED
    assert recreated.hubspot_id != line.hubspot_id


def test_a_line_found_gone_is_not_shown_linked_until_a_retry_links_it(
    hubspot, api, no_scan, viewer_client
):
    synced_order(lines=1)
    line = item("shop:1001:1")
    assert line.association == Association.LINKED
    api.post(f"/_sandbox/archive/line_items/{line.hubspot_id}")

    sweep()

    gone = item("shop:1001:1")
    assert (gone.state, gone.association) == ("not_found", Association.PENDING)
    listed = viewer_client.get(reverse("reconcile:category-list", args=["missing"]))
    [row] = listed.context["table"].page.object_list
    assert row.get_cell("association") == (
        '<span class="badge badge-pending">Pending</span>'
    )
    # The person's retry re-creates the record, and the link phase links it.
    engine.run_inline(engine.create_run(retry=("not_found",)).pk)
    deal, recreated = item("shop:1001"), item("shop:1001:1")
    assert recreated.hubspot_id != line.hubspot_id
    assert (recreated.state, recreated.association, recreated.associated_to) == (
        ItemState.VERIFIED,
        Association.LINKED,
        deal.hubspot_id,
    )
    links = hubspot.store.links_from([deal.hubspot_id], "line_items")
    assert {link.to_id for link in links[deal.hubspot_id]} == {recreated.hubspot_id}


def test_a_store_change_to_a_line_found_deleted_waits_for_the_person_too(
    hubspot, api, no_scan
):
    """QA's case: the store changed the line after HubSpot lost its record."""
    from reconcile.mapping import stage

    order = synced_order(lines=1)
    line = item("shop:1001:1")
    api.post(f"/_sandbox/archive/line_items/{line.hubspot_id}")
    sweep()
    order.lines.update(quantity=7)
    stage(Order.objects.filter(pk=order.pk))

    waiting = item("shop:1001:1")
    assert (waiting.state, waiting.reason_code) == ("not_found", "RECORD_ARCHIVED")
    assert waiting.properties["quantity"] == "7"
    # The next sync sends the deal (its amount changed), not the line.
    assert engine.run_inline(engine.create_run().pk).items_total == 1
    assert item("shop:1001").state == ItemState.VERIFIED
    assert item("shop:1001:1").state == ItemState.NOT_FOUND
    assert hubspot.store.count("line_items") == 0
    # The person's retry sends the store's new values.
    engine.run_inline(engine.create_run(retry=("not_found",)).pk)
    recreated = item("shop:1001:1")
    assert recreated.state == ItemState.VERIFIED
    assert (
        hubspot.store.get("line_items", recreated.hubspot_id).properties["quantity"]
        == "7"
    )


def test_a_missing_record_is_not_recorded_twice(hubspot, api, no_scan):
    synced_order(lines=1)
    api.post(f"/_sandbox/archive/line_items/{item('shop:1001:1').hubspot_id}")
    sweep()
    before = last_outcome_pk()

    sweep()

    assert outcomes_since(before) == []


# Orphans and duplicates


def test_it_keeps_a_record_with_an_unknown_store_key_as_an_orphan(hubspot, api):
    synced_order(lines=1)
    planted = api.plant(
        "deals", tally_order_key="shop:9999", dealname="Order 9999", amount="12"
    )

    done = sweep()

    orphan = Orphan.objects.get()
    assert (orphan.object_type, orphan.hubspot_id, orphan.store_key) == (
        "deals",
        planted,
        "shop:9999",
    )
    assert orphan.properties == {"dealname": "Order 9999", "amount": "12"}
    assert orphan.sweep_id == done.pk
    assert done.counts["orphan"] == 1

    api.post(f"/_sandbox/archive/deals/{planted}")
    later = sweep()

    assert Orphan.objects.count() == 0
    assert later.counts["orphan"] == 0


def test_it_flags_a_store_key_on_two_records_as_a_duplicate(hubspot, api):
    synced_order(lines=1)
    line = item("shop:1001:1")
    response = api.post(
        "/_sandbox/records/line_items",
        {
            "properties": {"tally_line_key": "shop:1001:1", "name": "Item 1"},
            "duplicate": True,
        },
    )
    assert response.status_code == 201
    copy = response.json()["id"]
    before = last_outcome_pk()

    done = sweep()

    line.refresh_from_db()
    assert (line.state, line.reason_code) == ("duplicate", "DUPLICATE_RECORDS")
    assert line.reason == (
        f"2 HubSpot records carry this store key: {line.hubspot_id}, {copy}."
    )
    assert [o.detail for o in ItemOutcome.objects.filter(pk__gt=before)] == [
        {
            "source": "sweep",
            "hubspot_id": line.hubspot_id,
            "record_ids": [line.hubspot_id, copy],
        }
    ]
    assert done.counts["duplicate"] == 1

    sweep()
    assert ItemOutcome.objects.filter(pk__gt=before).count() == 1
    api.post(f"/_sandbox/archive/line_items/{copy}")
    sweep()
    assert item("shop:1001:1").state == ItemState.VERIFIED


def test_it_lists_every_record_page_by_page_for_the_key_scan(hubspot):
    synced_order(lines=250)

    done = sweep()

    pages = list(
        ApiCall.objects.filter(endpoint__startswith="/crm/v3/objects/line_items?")
        .order_by("pk")
        .values_list("endpoint", flat=True)
    )
    assert len(pages) == 3  # 100, 100 and 50 line items
    assert ["after=" in page for page in pages] == [False, True, True]
    assert all("limit=100" in page for page in pages)
    assert done.counts["in-sync"] == 251
    assert done.counts["duplicate"] == 0
    assert Orphan.objects.count() == 0


# Orders


def test_it_flags_lines_hubspot_never_linked_to_their_deal(hubspot, no_scan):
    make_staged_order(make_store(), "1001", lines=2)
    hubspot.configure(quirks={"association_empty": True})
    sync()
    hubspot.configure(quirks={})

    sweep()

    assert problems() == [
        ("1001", "AMOUNT_SUM", "30.6", "deal 30.6, lines 0"),
        ("1001", "LINE_COUNT", "2", "0"),
        ("1001", "LINE_NOT_ASSOCIATED", "shop:1001:1", _not_on("shop:1001:1")),
        ("1001", "LINE_NOT_ASSOCIATED", "shop:1001:2", _not_on("shop:1001:2")),
    ]


def _not_on(key: str) -> str:
    return (
        f"line item {item(key).hubspot_id} not on deal {item('shop:1001').hubspot_id}"
    )


def test_it_flags_a_deal_amount_edited_in_hubspot(hubspot, api, no_scan):
    synced_order(lines=2)
    edit(api, "deals", item("shop:1001").hubspot_id, amount="40")

    sweep()

    assert item("shop:1001").state == ItemState.MISMATCH
    problem = OrderProblem.objects.get()
    assert (problem.code, problem.store_value, problem.hubspot_value) == (
        "AMOUNT_SUM",
        "30.6",
        "deal 40, lines 30.6",
    )
    assert problem.detail == {
        "deal_id": item("shop:1001").hubspot_id,
        "deal_amount": "40",
        "line_sum": "30.6",
    }


def test_it_flags_a_line_in_another_currency(hubspot, api, no_scan):
    synced_order(lines=2)
    edit(
        api,
        "line_items",
        item("shop:1001:2").hubspot_id,
        hs_line_item_currency_code="EUR",
    )

    sweep()

    assert problems() == [("1001", "CURRENCY", "GBP", "deal GBP, lines EUR, GBP")]


def test_a_credit_note_adds_up_with_a_negative_deal(hubspot, no_scan):
    synced_order("C1004", lines=2, kind=Order.Kind.CREDIT_NOTE)

    done = sweep()

    assert item("shop:C1004").properties["amount"] == "-30.6"
    assert problems() == []
    assert done.counts["in-sync"] == 3


def test_fixed_orders_lose_their_problems(hubspot, api, no_scan):
    synced_order(lines=1)
    deal_id = item("shop:1001").hubspot_id
    edit(api, "deals", deal_id, amount="40")
    sweep()
    edit(api, "deals", deal_id, amount="15.3")

    done = sweep()

    assert problems() == []
    assert done.counts["order-problem"] == 0


# Leases, claims, failures


def test_it_leaves_items_a_sync_holds(hubspot, api, no_scan):
    synced_order(lines=2)
    SyncItem.objects.filter(key="shop:1001:1").update(
        lease_until=timezone.now() + timedelta(minutes=5)
    )
    edit(api, "line_items", item("shop:1001:1").hubspot_id, name="Other")

    done = sweep()

    assert (done.items_total, done.items_checked) == (2, 2)
    assert item("shop:1001:1").state == ItemState.VERIFIED


def test_a_sweep_runs_once_however_often_it_is_delivered(hubspot, no_scan):
    synced_order(lines=1)
    queued = create_sweep()

    assert run_sweep(queued.pk) is True
    assert run_sweep(queued.pk) is False
    assert Sweep.objects.get(pk=queued.pk).calls == 3


def test_a_sweep_that_cannot_reach_hubspot_fails_without_the_token(
    hubspot, settings, no_scan
):
    synced_order(lines=1)
    settings.HUBSPOT_MAX_ATTEMPTS = 1
    settings.HUBSPOT_ACCESS_TOKEN = "pat-secret-123"

    done = sweep()

    assert done.state == Sweep.State.FAILED
    assert (
        done.error
        == "Authentication credentials not found. This API supports OAuth 2.0 "
        "authentication and you can find more details at "
        "https://developers.hubspot.com/docs/methods/auth/oauth-overview"
    )
    assert "pat-secret-123" not in done.error
    assert done.calls == 1
    assert CategorySnapshot.objects.count() == 0
