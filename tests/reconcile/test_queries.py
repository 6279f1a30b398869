import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from hubspot_sync.models import ItemState, SyncItem, SyncRun
from reconcile import categories, queries
from tests.factories import make_run, make_shop, set_state

pytestmark = pytest.mark.django_db


def test_it_counts_everything_in_the_shop():
    make_shop()
    make_run(SyncRun.State.DONE)
    make_run(SyncRun.State.RUNNING)

    assert queries.status_counts() == {
        "orders": 4,
        "line_items": 7,
        "deals": 4,
        "deals_in_hubspot": 1,
        "line_items_in_hubspot": 2,
        "items_by_state": {
            "deals": {
                "pending": 1,
                "verified": 1,
                "mismatch": 0,
                "failed": 0,
                "unreported_skip": 1,
                "not_found": 0,
                "transient": 0,
                "unknown": 0,
                "duplicate": 0,
                "excluded": 1,
            },
            "line_items": {
                "pending": 2,
                "verified": 1,
                "mismatch": 1,
                "failed": 1,
                "unreported_skip": 1,
                "not_found": 0,
                "transient": 0,
                "unknown": 0,
                "duplicate": 0,
                "excluded": 1,
            },
        },
        "unreported_skips": 2,
        "unreported_skips_seen": 0,
        "associations": {"n/a": 1, "pending": 4, "linked": 2, "failed": 0},
        "runs_by_state": {"queued": 0, "running": 1, "done": 1, "failed": 0},
    }


def test_it_gives_every_key_with_zero_on_an_empty_database():
    counts = queries.status_counts()

    assert json.loads(json.dumps(counts)) == counts
    assert counts["orders"] == counts["line_items"] == counts["deals"] == 0
    assert counts["deals_in_hubspot"] == counts["line_items_in_hubspot"] == 0
    assert set(counts["items_by_state"]) == {"deals", "line_items"}
    assert all(
        n == 0 for states in counts["items_by_state"].values() for n in states.values()
    )
    assert len(counts["items_by_state"]["deals"]) == 10
    assert counts["associations"] == {"n/a": 0, "pending": 0, "linked": 0, "failed": 0}
    assert counts["runs_by_state"] == {
        "queued": 0,
        "running": 0,
        "done": 0,
        "failed": 0,
    }


def test_it_counts_in_a_fixed_number_of_queries(django_assert_num_queries):
    make_shop()

    # orders, line items, items not verified by type and state, all items,
    # deals, items outside HubSpot, skips seen, associations, runs
    with django_assert_num_queries(9):
        queries.status_counts()


def test_it_counts_the_verified_by_subtraction_as_a_grouped_count_would():
    make_shop()
    set_state("shop:1002", ItemState.VERIFIED, hubspot_id="9002")
    set_state("shop:1002:1", ItemState.VERIFIED, hubspot_id="8002")
    SyncItem.objects.filter(object_type="line_items").update(association="linked")
    SyncItem.objects.filter(key="shop:1001:3").update(association="failed")

    counts = queries.status_counts()

    for object_type in ("deals", "line_items"):
        grouped = dict(
            SyncItem.objects.filter(object_type=object_type)
            .values_list("state")
            .annotate(n=Count("pk"))
            .order_by()
        )
        assert counts["items_by_state"][object_type] == {
            state: grouped.get(state, 0) for state in ItemState.values
        }
    linked = SyncItem.objects.filter(association="linked").count()
    assert counts["associations"]["linked"] == linked
    assert counts["associations"]["failed"] == 1


def test_the_overview_counts_are_kept_until_work_changes_or_invalidated():
    make_shop()
    first = queries.dashboard_counts()
    set_state("shop:1002", ItemState.VERIFIED, hubspot_id="9002")

    assert queries.dashboard_counts() == first  # cached
    queries.invalidate_counts()
    again = queries.dashboard_counts()
    assert again["categories"]["in-sync"] == first["categories"]["in-sync"] + 1
    assert again["categories"] == categories.counts()

    set_state("shop:1001", ItemState.FAILED)
    make_run()  # a run started: counted afresh
    assert queries.dashboard_counts()["categories"] == categories.counts()


def test_it_filters_items_by_state_type_and_search():
    make_shop()

    def keys(**filters):
        return sorted(queries.items(**filters).values_list("key", flat=True))

    assert keys(state="unreported_skip") == ["shop:1002", "shop:1002:1"]
    assert keys(state="pending", object_type="line_items") == [
        "shop:1002:2",
        "shop:C1004:1",
    ]
    assert keys(association="linked") == ["shop:1001:1", "shop:1001:2"]
    assert keys(q="7002") == ["shop:1001:2"]
    assert keys(q="invalid_opt") == ["shop:1001:3"]  # a reason code's start
    assert keys(q="INVALID_OPTION") == ["shop:1001:3"]
    assert keys(q="OPTION") == []  # not inside one: that would scan them all
    assert keys(q="sku3") == ["shop:1001:3"]
    assert keys(q="1003") == ["shop:1003", "shop:1003:1"]
    assert keys(q="shop:1001:") == ["shop:1001:1", "shop:1001:2", "shop:1001:3"]
    assert keys(q="001:2") == []  # no match inside a key: that would scan them all


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plans")
def test_it_searches_items_through_indexes_only():
    make_shop()

    plan = queries.items(q="INVALID_OPTION").explain()

    # One union of index lookups: an OR of them would read every item.
    assert "COMPOUND QUERY" in plan
    assert "reason_code>? AND reason_code<?" in plan
    assert "SCAN" not in plan


def test_it_counts_deals_in_hubspot_apart_from_those_never_sent_or_gone():
    make_shop()
    set_state("shop:1002", ItemState.VERIFIED, hubspot_id="9002")
    set_state("shop:C1004", ItemState.NOT_FOUND, hubspot_id="9004")

    counts = queries.status_counts()

    assert counts["deals"] == 4
    assert counts["items_by_state"]["deals"]["excluded"] == 1
    assert counts["deals_in_hubspot"] == 2
    assert counts["line_items_in_hubspot"] == 2


def test_tally_status_prints_the_same_counts_as_json():
    make_shop()
    out = StringIO()

    call_command("tally_status", "--json", stdout=out)

    printed = json.loads(out.getvalue())
    assert printed == queries.status_counts()
    assert (printed["deals"], printed["deals_in_hubspot"]) == (4, 1)
