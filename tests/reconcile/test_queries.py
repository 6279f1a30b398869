import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from hubspot_sync.models import ItemState, SyncRun
from reconcile import queries
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

    with django_assert_num_queries(7):
        queries.status_counts()


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
    assert keys(q="invalid_opt") == ["shop:1001:3"]
    assert keys(q="sku3") == ["shop:1001:3"]
    assert keys(q="1003") == ["shop:1003", "shop:1003:1"]
    assert keys(q="shop:1001:") == ["shop:1001:1", "shop:1001:2", "shop:1001:3"]
    assert keys(q="001:2") == []  # no match inside a key: that would scan them all


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plans")
def test_it_searches_items_through_indexes_only():
    make_shop()

    plan = queries.items(q="85123A").explain()

    assert "MULTI-INDEX OR" in plan
    assert "SCAN hubspot_sync_syncitem" not in plan


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
