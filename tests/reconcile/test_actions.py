"""reconcile.actions: selections and their preview figures, without views."""

from datetime import UTC, datetime

import pytest
from django.http import QueryDict

from hubspot_sync.models import ItemState, SyncItem
from reconcile import actions
from reconcile.models import Order, Sweep
from tests.factories import (
    item,
    make_call,
    make_outcome,
    make_run,
    make_shop,
    make_staged_order,
    make_store,
)

pytestmark = pytest.mark.django_db

# make_shop: deals 1002 (unreported skip) and C1004 (pending) wait to be sent,
# and lines 1002:1 (unreported skip), 1002:2 and C1004:1 (pending).
WAITING = {"deals": 2, "line_items": 3}
COUNTED_BUDGET = {"limit": 250000, "used": 0, "remaining": 250000, "source": "counted"}


def params(query: str) -> QueryDict:
    return QueryDict(query)


def ids(*keys: str) -> str:
    return "&".join(f"item={item(key).pk}" for key in keys)


def figures(preview: actions.Preview) -> dict:
    shown = preview.as_dict()
    del shown["digest"]
    return shown


def test_it_previews_selected_items_and_says_what_it_skips():
    make_shop()
    selection = actions.retry_selection(params(ids("shop:1001:1", "shop:1001:3")))

    preview = actions.preview(selection)

    assert figures(preview) == {
        "action": "retry",
        "target": "2 selected items",
        "by_state": {
            "verified": {"deals": 0, "line_items": 1},
            "failed": {"deals": 0, "line_items": 1},
        },
        "selected": {"deals": 0, "line_items": 2},
        "to_send": {"deals": 0, "line_items": 1},
        "skipped": {"verified": 1},
        "also_waiting": WAITING,
        # 8 property reads, then 2 deals and 4 lines: one call each.
        "calls": {
            "setup": 8,
            "deal_upserts": 1,
            "line_item_upserts": 1,
            "associations": 1,
            "total": 11,
        },
        "budget": COUNTED_BUDGET,
        "problem": "",
    }
    assert selection.parameters == {
        "item": sorted([item("shop:1001:1").pk, item("shop:1001:3").pk])
    }


def test_it_previews_one_item_by_its_id():
    make_shop()
    failed = item("shop:1001:3")

    preview = actions.preview(actions.retry_selection(params(f"item={failed.pk}")))

    assert preview.target == f"item {failed.pk}"
    assert preview.to_send == {"deals": 0, "line_items": 1}
    assert preview.skipped == {}


def test_it_previews_a_category_through_the_lists_filter():
    store = make_shop()
    other = make_store("other", "Other shop")
    make_staged_order(other, "2001", lines=1)
    SyncItem.objects.filter(key__startswith="other:").update(state=ItemState.FAILED)

    preview = actions.preview(
        actions.retry_selection(params("category=failed&store=shop&page=3&sort=key"))
    )

    assert store.slug == "shop"
    assert preview.target == "Failed list where store=shop"
    assert preview.by_state == {"failed": {"deals": 0, "line_items": 1}}
    assert preview.to_send == {"deals": 0, "line_items": 1}
    assert preview.also_waiting == WAITING


def test_it_previews_a_filtered_list_without_a_category():
    make_shop()

    preview = actions.preview(actions.retry_selection(params("q=1001")))

    assert preview.target == "Items list where q=1001"
    assert preview.by_state == {
        "verified": {"deals": 1, "line_items": 1},
        "mismatch": {"deals": 0, "line_items": 1},
        "failed": {"deals": 0, "line_items": 1},
    }
    assert preview.to_send == {"deals": 0, "line_items": 2}
    assert preview.skipped == {"verified": 2}


def test_it_names_only_the_ids_past_the_id_column_that_no_item_has():
    make_shop()
    failed = item("shop:1001:3")

    with pytest.raises(actions.SelectionError) as raised:
        actions.retry_selection(params(f"item={failed.pk}&item={2**63}"))

    assert str(raised.value) == f"No item with id {2**63}."


def test_a_list_placed_until_the_last_day_a_date_can_name_is_every_order():
    make_shop()

    until_the_end = actions.preview(
        actions.retry_selection(params("placed_before=9999-12-31"))
    )
    from_the_start = actions.preview(
        actions.retry_selection(params("placed_after=0001-01-01"))
    )

    assert until_the_end.target == "Items list where placed_before=9999-12-31"
    assert until_the_end.selected == {"deals": 4, "line_items": 7}
    assert from_the_start.selected == {"deals": 4, "line_items": 7}


@pytest.mark.parametrize(
    "state, count, text",
    [
        ("excluded", 2, "2 not synced by design (never sent)"),
        ("excluded", 1, "1 not synced by design (never sent)"),
        ("verified", 1, "1 already verified (a resync of its order sends it again)"),
        (
            "verified",
            1200,
            "1,200 already verified (a resync of their orders sends them again)",
        ),
    ],
)
def test_it_says_what_it_skips_in_one_sentence(state, count, text):
    assert actions.skipped_text(state, count) == text


def test_it_previews_the_items_a_run_touched():
    make_shop()
    run = make_run()
    call = make_call(run)
    make_outcome(item("shop:1001:3"), "failed", call)
    make_outcome(item("shop:1001:3"), "failed", call)
    make_outcome(item("shop:1003"), "failed", call)

    preview = actions.preview(actions.retry_selection(params(f"run={run.pk}")))

    assert preview.target == f"items of run {run.pk}"
    assert preview.by_state == {
        "failed": {"deals": 0, "line_items": 1},
        "excluded": {"deals": 1, "line_items": 0},
    }
    assert preview.skipped == {"excluded": 1}
    assert preview.to_send == {"deals": 0, "line_items": 1}


def test_it_counts_waiting_items_of_the_selection_only_once():
    make_shop()

    preview = actions.preview(actions.retry_selection(params("category=never-synced")))

    # Unreported skips are waiting too, but in their own category.
    assert preview.to_send == {"deals": 1, "line_items": 2}
    assert preview.also_waiting == {"deals": 1, "line_items": 1}
    assert preview.calls["total"] == 8 + 1 + 1 + 1


def test_it_counts_the_property_check_even_after_a_recent_one():
    """Each worker checks on its own: QA saw a run make 8 reads the preview left out."""
    make_shop()
    make_call(make_run(), endpoint="/crm/v3/properties/deals/tally_order_key")

    preview = actions.preview(actions.retry_selection(params("category=failed")))

    assert preview.calls == {
        "setup": 8,
        "deal_upserts": 1,
        "line_item_upserts": 1,
        "associations": 1,
        "total": 11,
    }


def test_it_says_nothing_to_do_for_verified_items_only():
    make_shop()

    preview = actions.preview(actions.retry_selection(params("category=in-sync")))

    assert preview.to_send == {"deals": 0, "line_items": 0}
    assert preview.skipped == {"verified": 2}
    assert preview.problem == "Nothing to do: no item in this selection can be sent."
    assert not preview.ready


def test_it_refuses_when_the_estimate_exceeds_what_is_left_today():
    make_shop()
    make_call(make_run(), rate_limit={"daily": 250000, "daily_remaining": 10})

    preview = actions.preview(actions.retry_selection(params("category=failed")))

    assert preview.budget == {
        "limit": 250000,
        "used": 249990,
        "remaining": 10,
        "source": "hubspot",
    }
    assert preview.calls["total"] == 11
    assert preview.problem == (
        "Refused: this takes about 11 HubSpot calls and only 10 of today's "
        "250,000 are left. Nothing was changed; choose fewer items, or wait for "
        "the budget to reset at midnight UTC."
    )


def test_it_previews_a_resync_of_one_order_verified_items_too():
    make_shop()
    order = Order.objects.get(number="1001")

    selection = actions.resync_selection(params(f"order={order.pk}"))
    preview = actions.preview(selection)

    assert selection.target == "order 1001 (shop)"
    assert selection.parameters == {"order": order.pk}
    assert preview.by_state == {
        "verified": {"deals": 1, "line_items": 1},
        "mismatch": {"deals": 0, "line_items": 1},
        "failed": {"deals": 0, "line_items": 1},
    }
    assert preview.to_send == {"deals": 1, "line_items": 3}
    assert preview.skipped == {}
    assert preview.also_waiting == WAITING
    assert preview.calls["total"] == 8 + 1 + 1 + 1


def test_it_previews_a_resync_of_a_store_with_unstaged_orders():
    store = make_shop()
    from tests.factories import make_order

    make_order(store, "1005", lines=2)
    make_order(store, "1006", lines=1, kind=Order.Kind.STOCK_ADJUSTMENT)

    preview = actions.preview(actions.resync_selection(params("store=shop")))

    assert preview.target == "store shop"
    assert preview.by_state == {
        "pending": {"deals": 1, "line_items": 2},
        "verified": {"deals": 1, "line_items": 1},
        "mismatch": {"deals": 0, "line_items": 1},
        "failed": {"deals": 0, "line_items": 1},
        "unreported_skip": {"deals": 1, "line_items": 1},
        "excluded": {"deals": 2, "line_items": 2},
        "new": {"deals": 1, "line_items": 2},
    }
    assert preview.to_send == {"deals": 4, "line_items": 8}
    assert preview.skipped == {"excluded": 4}
    assert preview.also_waiting == {"deals": 0, "line_items": 0}


def test_it_previews_a_resync_of_a_date_range():
    store = make_store()
    make_staged_order(store, "1", placed_at=datetime(2010, 12, 1, 9, tzinfo=UTC))
    make_staged_order(store, "2", placed_at=datetime(2010, 12, 15, 9, tzinfo=UTC))
    make_staged_order(store, "3", placed_at=datetime(2011, 1, 2, 9, tzinfo=UTC))
    SyncItem.objects.update(state=ItemState.VERIFIED)

    selection = actions.resync_selection(
        params("placed_after=2010-12-02&placed_before=2010-12-31")
    )
    preview = actions.preview(selection)

    assert selection.target == "orders placed 2010-12-02 to 2010-12-31"
    assert selection.parameters == {
        "placed_after": "2010-12-02",
        "placed_before": "2010-12-31",
    }
    assert preview.by_state == {"verified": {"deals": 1, "line_items": 2}}
    assert preview.to_send == {"deals": 1, "line_items": 2}
    one_day = actions.resync_selection(
        params("placed_after=2010-12-15&placed_before=2010-12-15")
    )
    assert one_day.target == "orders placed on 2010-12-15"
    assert preview.calls == {
        "setup": 8,
        "deal_upserts": 1,
        "line_item_upserts": 1,
        "associations": 1,
        "total": 11,
    }


def test_it_previews_a_sweep_of_every_item_in_hubspot():
    make_shop()

    preview = actions.preview(actions.sweep_selection(params("")))

    # Only 1001 and its lines 1 and 2 carry a HubSpot ID.
    assert preview.by_state == {
        "verified": {"deals": 1, "line_items": 1},
        "mismatch": {"deals": 0, "line_items": 1},
    }
    assert preview.to_send == {"deals": 1, "line_items": 2}
    # One list page per type for the orphan scan, one read per 100 items,
    # one association read per 1,000 deals.
    assert preview.calls == {
        "key_list_pages": 2,
        "fingerprint_reads": 2,
        "association_reads": 1,
        "total": 5,
    }
    assert preview.problem == ""


def test_it_leaves_the_orphan_scan_out_when_it_is_off(settings):
    make_shop()
    settings.TALLY_SWEEP_ORPHANS = False

    preview = actions.preview(actions.sweep_selection(params("")))

    assert preview.calls["key_list_pages"] == 0
    assert preview.calls["total"] == 3


def test_it_refuses_a_sweep_while_one_is_running():
    make_shop()
    running = Sweep.objects.create(state=Sweep.State.RUNNING)

    preview = actions.preview(actions.sweep_selection(params("")))

    assert preview.problem == (
        f"Sweep {running.pk} is already queued or running; it checks the same items."
    )


def test_the_digest_changes_with_the_selection_only():
    make_shop()
    selection = actions.retry_selection(params("category=failed"))
    before = actions.preview(selection).digest

    SyncItem.objects.filter(key="shop:C1004").update(state=ItemState.VERIFIED)
    unrelated = actions.preview(selection).digest
    SyncItem.objects.filter(key="shop:1001:2").update(state=ItemState.FAILED)
    changed = actions.preview(selection).digest

    assert unrelated == before
    assert changed != before


@pytest.mark.parametrize(
    "query, message",
    [
        ("", "Choose items, a run, a category or a filtered list."),
        ("item=1&run=1", "Choose one kind of selection, not item and run."),
        ("item=abc", "item must be a number, not 'abc'."),
        ("item=0", "item must be a positive number."),
        ("item=99999", "No item with id 99999."),
        ("run=99999", "No run 99999."),
        # Past the 64-bit id columns of SQLite and PostgreSQL alike.
        (f"item={2**63}", f"No item with id {2**63}."),
        (
            "item=99999999999999999999999",
            "No item with id 99999999999999999999999.",
        ),
        (f"run={2**63}", f"No run {2**63}."),
        ("run=99999999999999999999999", "No run 99999999999999999999999."),
        ("category=orphan", "'orphan' is not a list of items."),
        ("category=nope", "'nope' is not a list of items."),
        (
            "category=failed&state=bogus",
            "The list's filters are not valid (state: Select a valid choice. "
            "bogus is not one of the available choices.).",
        ),
    ],
)
def test_it_refuses_a_retry_selection_it_cannot_read(query, message):
    make_shop()

    with pytest.raises(actions.SelectionError) as raised:
        actions.retry_selection(params(query))

    assert str(raised.value) == message


@pytest.mark.parametrize(
    "query, message",
    [
        ("", "Choose an order, a store or a date range."),
        ("order=1&store=shop", "Choose one order, or a store and dates, not both."),
        ("order=99999", "No order 99999."),
        (f"order={2**63}", f"No order {2**63}."),
        ("order=99999999999999999999999", "No order 99999999999999999999999."),
        ("store=elsewhere", "No store 'elsewhere'."),
        ("placed_after=yesterday", "placed_after must be a date (YYYY-MM-DD)."),
        (
            "placed_after=2011-01-02&placed_before=2011-01-01",
            "The range ends before it starts.",
        ),
    ],
)
def test_it_refuses_a_resync_selection_it_cannot_read(query, message):
    make_shop()

    with pytest.raises(actions.SelectionError) as raised:
        actions.resync_selection(params(query))

    assert str(raised.value) == message


def test_the_sweep_preview_counts_exactly_the_items_a_sweep_checks():
    """Counted by subtraction for speed; it must equal counting them one by one."""
    from reconcile import queries

    make_shop()
    SyncItem.objects.filter(key__in=["shop:1001", "shop:1001:1"]).update(
        hubspot_id="11", state=ItemState.VERIFIED
    )
    SyncItem.objects.filter(key="shop:1002").update(
        hubspot_id="12", state=ItemState.MISMATCH
    )
    SyncItem.objects.filter(key="shop:1002:1").update(
        hubspot_id="", state=ItemState.FAILED
    )
    SyncItem.objects.filter(key="shop:1002:2").update(
        hubspot_id="13", state=ItemState.EXCLUDED
    )
    selection = actions.sweep_selection(params(""))

    by_state = actions.preview(selection).by_state

    assert by_state == actions._counts(selection.items)
    assert by_state == queries.holding_ids_by_state()
    assert by_state["verified"] == {"deals": 1, "line_items": 1}
    assert "excluded" not in by_state and "failed" not in by_state


@pytest.mark.parametrize(
    "query",
    ["store=shop", "placed_after=2010-12-01&placed_before=2010-12-01", "order=ORDER"],
)
def test_a_resync_preview_counts_exactly_the_items_it_resyncs(query):
    """Deals and lines are counted apart for speed; together they must be the
    items the resync marks."""
    make_shop()
    set_state_of = SyncItem.objects.filter(key__in=["shop:1001", "shop:1002:1"])
    set_state_of.update(state=ItemState.VERIFIED, hubspot_id="9")
    order = Order.objects.get(number="1001")
    selection = actions.resync_selection(params(query.replace("ORDER", str(order.pk))))

    by_state = actions.preview(selection).by_state

    assert by_state == actions._counts(selection.items)
    assert sum(sum(n.values()) for n in by_state.values()) == selection.items.count()
