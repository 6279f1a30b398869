from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from hubspot_sync.models import ItemState, Outcome
from reconcile import filters, roles, tables
from reconcile.models import Order, OrderProblem, Orphan
from reconcile.views import lists
from tests.factories import (
    item,
    make_call,
    make_outcome,
    make_run,
    make_shop,
    make_staged_order,
    make_store,
    set_state,
)

pytestmark = pytest.mark.django_db


def url(slug: str) -> str:
    return reverse("reconcile:category-list", args=[slug])


def shown_keys(response) -> list[str]:
    return sorted(row.record.key for row in response.context["table"].page.object_list)


def column_names(response) -> list[str]:
    return [column.name for column in response.context["table"].columns]


@pytest.fixture
def operator_client(client, django_user_model):
    operator = django_user_model.objects.create_user("operator", password="op-pass-123")
    roles.assign(operator, roles.OPERATOR)
    client.force_login(operator)
    return client


def make_every_category():
    """make_shop, plus one item in each category it leaves empty.

    in-sync shop:1001, shop:1001:1 · mismatch shop:1001:2 · failed shop:1001:3 ·
    unreported shop:1002, shop:1002:1 · duplicate shop:1002:2 ·
    waiting shop:C1004 · never-synced shop:C1004:1 · excluded shop:1003,
    shop:1003:1 · missing shop:1005 · a second store's order 2001 (pending).
    """
    store = make_shop()
    set_state("shop:1002:2", ItemState.DUPLICATE, hubspot_id="7010")
    set_state("shop:C1004", ItemState.PENDING, hubspot_id="9004")
    make_staged_order(store, "1005", lines=0)
    set_state("shop:1005", ItemState.NOT_FOUND, hubspot_id="9005")
    other = make_store(slug="outlet", name="Outlet")
    make_staged_order(
        other, "2001", lines=1, placed_at=datetime(2011, 1, 5, 9, 0, tzinfo=UTC)
    )
    return store


@pytest.mark.parametrize(
    "slug, keys",
    [
        ("in-sync", ["shop:1001", "shop:1001:1"]),
        ("mismatch", ["shop:1001:2"]),
        ("missing", ["shop:1005"]),
        ("duplicate", ["shop:1002:2"]),
        ("unreported", ["shop:1002", "shop:1002:1"]),
        ("failed", ["shop:1001:3"]),
        ("never-synced", ["outlet:2001", "outlet:2001:1", "shop:C1004:1"]),
        ("waiting", ["shop:C1004"]),
        ("excluded", ["shop:1003", "shop:1003:1"]),
    ],
)
def test_it_lists_exactly_the_items_of_each_category(viewer_client, slug, keys):
    make_every_category()

    response = viewer_client.get(url(slug))

    assert response.status_code == 200
    assert shown_keys(response) == keys
    assert [t.name for t in response.templates][0] == "reconcile/category_list.html"


def test_it_heads_the_list_with_the_category_its_description_and_count(
    viewer_client,
):
    make_every_category()

    response = viewer_client.get(url("unreported"))

    assert '<h1>Unreported skip <span class="muted">2</span></h1>' in response.text
    assert (
        "<p>HubSpot named it neither in its results nor in its errors; "
        "the next run sends it again.</p>"
    ) in response.text
    assert '<p class="result-count">2 items · ' in response.text


def test_it_counts_the_category_and_the_filtered_rows_apart(viewer_client):
    make_every_category()

    response = viewer_client.get(url("unreported"), {"type": "deals"})

    assert shown_keys(response) == ["shop:1002"]
    assert '<h1>Unreported skip <span class="muted">2</span></h1>' in response.text
    assert "1 of 2 items match these filters" in response.text


def test_it_answers_404_for_an_unknown_list(viewer_client):
    assert viewer_client.get(url("lost")).status_code == 404
    assert viewer_client.get("/lists/lost/export.csv").status_code == 404


def test_it_sends_anonymous_users_to_login(client):
    for address in (url("mismatch"), reverse("reconcile:error-list")):
        response = client.get(address)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={address}"


@pytest.mark.parametrize(
    "params, keys",
    [
        ({"q": "1002"}, ["shop:1002", "shop:1002:1"]),
        ({"q": "SKU1"}, ["outlet:2001:1", "shop:1002:1", "shop:C1004:1"]),
        ({"q": "outlet:2001"}, ["outlet:2001", "outlet:2001:1"]),
        ({"store": "outlet"}, ["outlet:2001", "outlet:2001:1"]),
        ({"placed_after": "2011-01-01"}, ["outlet:2001", "outlet:2001:1"]),
        (
            {"placed_before": "2010-12-31"},
            ["shop:1002", "shop:1002:1", "shop:C1004", "shop:C1004:1"],
        ),
        ({"type": "line_items", "store": "shop"}, ["shop:1002:1", "shop:C1004:1"]),
        ({"state": "pending", "store": "shop"}, ["shop:C1004", "shop:C1004:1"]),
        ({"code": "UNREPORTED_SKIP"}, ["shop:1002", "shop:1002:1"]),
        ({"code": "UNREPORTED"}, []),
        ({"q": "unreported"}, ["shop:1002", "shop:1002:1"]),
    ],
)
def test_it_filters_the_items_list(viewer_client, params, keys):
    make_every_category()
    items_in_lists = [
        "never-synced",
        "waiting",
        "unreported",
    ]
    by_list = [viewer_client.get(url(slug), params) for slug in items_in_lists]

    assert sorted(key for page in by_list for key in shown_keys(page)) == keys


EVERY_KEY = [
    "outlet:2001",
    "outlet:2001:1",
    "shop:1001",
    "shop:1001:1",
    "shop:1001:2",
    "shop:1001:3",
    "shop:1002",
    "shop:1002:1",
    "shop:1002:2",
    "shop:1003",
    "shop:1003:1",
    "shop:1005",
    "shop:C1004",
    "shop:C1004:1",
]


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Tokyo", "America/Los_Angeles"])
@pytest.mark.parametrize(
    "params, keys",
    [
        ({"placed_before": "9999-12-31"}, EVERY_KEY),
        ({"placed_after": "0001-01-01"}, EVERY_KEY),
        ({"placed_after": "0001-01-01", "placed_before": "9999-12-31"}, EVERY_KEY),
        ({"placed_after": "9999-12-31"}, []),
        ({"placed_before": "0001-01-01"}, []),
        ({"placed_after": "2011-01-01", "placed_before": "9999-12-31"}, EVERY_KEY[:2]),
    ],
)
def test_the_first_and_last_days_a_date_can_name_are_filters_like_any(
    viewer_client, settings, time_zone, params, keys
):
    settings.TIME_ZONE = time_zone
    make_every_category()

    listed = viewer_client.get(
        reverse("reconcile:item-list"), {**params, "per_page": 100}
    )
    mismatches = viewer_client.get(url("mismatch"), params)
    exported = viewer_client.get(reverse("reconcile:item-export"), params)

    assert listed.status_code == 200
    assert listed.context["form"].errors == {}
    assert shown_keys(listed) == keys
    assert shown_keys(mismatches) == [k for k in keys if k == "shop:1001:2"]
    rows = b"".join(exported.streaming_content).decode("utf-8-sig").splitlines()
    assert sorted(row.split(",")[0] for row in rows[1:]) == keys


@pytest.mark.parametrize(
    "address, status",
    [
        ("/items/?job=99999999999999999999999", 200),
        ("/items/export.csv?job=99999999999999999999999", 200),
        ("/lists/unreported/?job=99999999999999999999999", 200),
        ("/items/?page=99999999999999999999999", 200),
        ("/items/?per_page=99999999999999999999999", 200),
        ("/jobs/?page=99999999999999999999999", 200),
        ("/audit/?page=99999999999999999999999", 200),
        ("/runs/99999999999999999999999/", 404),
        ("/runs/99999999999999999999999/?calls=99999999999999999999999", 404),
        ("/calls/99999999999999999999999/", 404),
        ("/orders/99999999999999999999999/", 404),
        ("/jobs/99999999999999999999999/cancel/", 404),
    ],
)
def test_numbers_past_the_databases_integers_find_nothing(
    operator_client, address, status
):
    make_every_category()

    response = operator_client.get(address)

    assert response.status_code == status
    if address.startswith("/items/?job="):
        assert shown_keys(response) == []


def test_a_year_past_9999_is_a_form_error_not_a_crash(viewer_client):
    make_every_category()

    listed = viewer_client.get(
        reverse("reconcile:item-list"), {"placed_before": "10000-01-01"}
    )
    exported = viewer_client.get(
        reverse("reconcile:item-export"), {"placed_before": "10000-01-01"}
    )

    assert listed.status_code == 200
    assert listed.context["form"].errors == {"placed_before": ["Enter a valid date."]}
    assert exported.status_code == 400


def test_it_searches_by_hubspot_id_and_association_within_a_category(viewer_client):
    make_every_category()

    by_id = viewer_client.get(url("in-sync"), {"q": "7001"})
    linked = viewer_client.get(url("in-sync"), {"association": "linked"})

    assert shown_keys(by_id) == ["shop:1001:1"]
    assert shown_keys(linked) == ["shop:1001:1"]


def test_it_ignores_an_invalid_filter_and_says_so(viewer_client):
    make_every_category()

    response = viewer_client.get(url("never-synced"), {"placed_after": "soon"})

    assert shown_keys(response) == ["outlet:2001", "outlet:2001:1", "shop:C1004:1"]
    assert "Enter a valid date." in response.text


def test_it_sorts_by_a_column_either_way(viewer_client):
    make_every_category()

    up = viewer_client.get(url("never-synced"), {"sort": "key"})
    down = viewer_client.get(url("never-synced"), {"sort": "-key"})

    keys = ["outlet:2001", "outlet:2001:1", "shop:C1004:1"]
    assert [row.record.key for row in up.context["table"].page.object_list] == keys
    assert [row.record.key for row in down.context["table"].page.object_list] == (
        keys[::-1]
    )


def test_it_shows_the_most_recently_changed_first(viewer_client):
    store = make_store()
    for n in range(3):
        make_staged_order(store, f"{5000 + n}", lines=0)
    for n, key in enumerate(["shop:5001", "shop:5000", "shop:5002"]):
        set_state(
            key, ItemState.FAILED, state_changed=datetime(2026, 1, n + 1, tzinfo=UTC)
        )

    response = viewer_client.get(url("failed"))

    assert [row.record.key for row in response.context["table"].page.object_list] == [
        "shop:5002",
        "shop:5000",
        "shop:5001",
    ]


def test_it_pages_25_at_a_time_and_at_most_100(viewer_client):
    store = make_store()
    for n in range(12):
        make_staged_order(store, f"{6000 + n}", lines=9)

    first = viewer_client.get(url("never-synced"))
    fifth = viewer_client.get(url("never-synced"), {"page": 5})
    huge = viewer_client.get(url("never-synced"), {"per_page": 5000})

    assert first.context["table"].paginator.count == 120
    assert len(first.context["table"].page.object_list) == 25
    assert len(fifth.context["table"].page.object_list) == 20
    assert len(huge.context["table"].page.object_list) == 100


def test_it_shows_the_columns_that_matter_for_each_category(viewer_client):
    make_every_category()

    assert column_names(viewer_client.get(url("mismatch"))) == [
        "key",
        "order",
        "object_type",
        "state",
        "hubspot_id",
        "association",
        "differences",
        "reason_code",
        "reason",
        "next_step",
        "last_attempt",
        "attempts",
        "state_changed",
    ]
    in_sync = column_names(viewer_client.get(url("in-sync")))
    never_synced = column_names(viewer_client.get(url("never-synced")))
    assert "reason" not in in_sync and "differences" not in in_sync
    assert "hubspot_id" not in never_synced and "reason" in never_synced


def test_it_links_each_row_to_its_order_at_the_line(viewer_client):
    make_every_category()
    order = Order.objects.get(number="1001")

    response = viewer_client.get(url("mismatch"))

    row = response.context["table"].page.object_list[0]
    assert row.get_cell("order") == f'<a href="/orders/{order.pk}/#line-2">1001</a>'


def test_it_shows_each_differing_field_with_both_values_and_when_hubspot_changed_it(
    viewer_client,
):
    make_every_category()
    line = item("shop:1001:2")
    call = make_call(make_run())
    make_outcome(line, Outcome.MISMATCH, call, mismatches={"price": {"store": "1"}})
    make_outcome(
        line,
        Outcome.MISMATCH,
        call,
        mismatches={
            "quantity": {"store": "6", "hubspot": "5"},
            "price": {
                "store": "2.55",
                "hubspot": "2.5",
                "changed_at": "2026-03-02T10:15:00Z",
                "source": "CRM_UI",
            },
        },
    )
    make_outcome(line, Outcome.ASSOCIATED, call, association=True)

    response = viewer_client.get(url("mismatch"))

    row = response.context["table"].page.object_list[0]
    assert row.get_cell("differences") == (
        '<table class="diff"><thead><tr><th scope="col">Field</th>'
        '<th scope="col">Store</th><th scope="col">HubSpot</th>'
        '<th scope="col">HubSpot changed</th></tr></thead><tbody>'
        '<tr><th scope="row">price</th><td class="store">2.55</td>'
        '<td class="hubspot">2.5</td><td class="when">2 Mar 2026 10:15:00</td></tr>'
        '<tr><th scope="row">quantity</th><td class="store">6</td>'
        '<td class="hubspot">5</td><td class="when">—</td></tr></tbody></table>'
    )


def test_it_shows_the_last_attempt_with_its_time_and_outcome(viewer_client):
    make_every_category()
    line = item("shop:1001:3")
    call = make_call(make_run())
    make_outcome(line, Outcome.TRANSIENT, call)
    last = make_outcome(line, Outcome.FAILED, call, category="VALIDATION_ERROR")
    last.created = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    last.save(update_fields=["created"])

    response = viewer_client.get(url("failed"))

    row = response.context["table"].page.object_list[0]
    assert row.get_cell("last_attempt") == (
        '<span class="when">3 Feb 2026 04:05:06</span> '
        '<span class="badge badge-failed">Failed</span>'
    )
    assert row.get_cell("reason") == (
        "A value is not one of the options the HubSpot property allows."
    )


def test_a_viewer_sees_no_checkboxes_nor_retry_buttons(viewer_client):
    make_every_category()

    for address in (url("failed"), reverse("reconcile:item-list")):
        response = viewer_client.get(address)
        assert 'type="checkbox"' not in response.text
        assert "Retry selected" not in response.text
        assert "item" not in column_names(response)


def test_an_operator_selects_rows_for_a_retry_preview(operator_client):
    make_every_category()
    pk = item("shop:1001:3").pk

    response = operator_client.get(url("failed"))

    assert column_names(response)[0] == "item"
    assert (
        '<form method="get" action="/actions/retry/" class="selection" '
        'aria-label="Retry items">'
    ) in response.text
    assert (
        f'<input type="checkbox" name="item" value="{pk}" '
        'aria-label="Select shop:1001:3" />'
    ) in response.text
    assert '<button type="submit">Retry selected</button>' in response.text


def test_an_operator_retries_everything_in_the_filtered_list(operator_client):
    make_every_category()

    response = operator_client.get(
        url("never-synced"), {"store": "outlet", "page": "1", "sort": "key"}
    )

    assert (
        '<a href="/actions/retry/?category=never-synced&amp;store=outlet">'
        "Retry all 2 in this list</a>"
    ) in response.text


def test_there_is_no_retry_all_for_categories_that_need_nothing(operator_client):
    make_every_category()

    response = operator_client.get(url("in-sync"))

    assert "Retry selected" in response.text
    assert "Retry all" not in response.text


def test_the_items_page_retries_all_only_when_filtered(operator_client):
    make_every_category()
    address = reverse("reconcile:item-list")

    everything = operator_client.get(address)
    failed = operator_client.get(address, {"state": "failed"})

    assert "Retry all" not in everything.text
    assert (
        '<a href="/actions/retry/?state=failed">Retry all 1 in this list</a>'
        in failed.text
    )


def test_no_selection_is_offered_until_the_retry_page_exists(
    operator_client, monkeypatch
):
    make_every_category()
    monkeypatch.setattr(lists, "RETRY_PREVIEW", "reconcile:no-such-page")

    response = operator_client.get(url("failed"))

    assert 'type="checkbox"' not in response.text
    assert "Retry" not in response.text


def test_it_links_the_export_with_the_lists_filters(viewer_client):
    make_every_category()

    response = viewer_client.get(
        url("failed"), {"q": "SKU3", "page": "2", "sort": "key"}
    )

    assert '<a href="/lists/failed/export.csv?q=SKU3">Export CSV</a>' in response.text


def test_it_links_every_list_from_every_list(viewer_client):
    make_every_category()

    response = viewer_client.get(url("failed"))

    assert '<a href="/lists/failed/" aria-current="page">Failed</a>' in response.text
    assert '<a href="/lists/orphan/">Orphan in HubSpot</a>' in response.text
    assert '<a href="/errors/">Errors by reason</a>' in response.text


def query_count(client, address, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        client.get(address, params)
    return len(queries)


def seed_mismatches(orders: int, number: int = 7000) -> None:
    store = make_store(slug=f"m{number}")
    call = make_call(make_run())
    for n in range(orders):
        order = make_staged_order(store, f"{number + n}", lines=2)
        for line in order.lines.select_related("sync_item"):
            set_state(line.sync_item.key, ItemState.MISMATCH, hubspot_id=f"{n}")
            make_outcome(line.sync_item, Outcome.CREATED, call)
            make_outcome(
                line.sync_item,
                Outcome.MISMATCH,
                call,
                mismatches={"price": {"store": "2.55", "hubspot": "2.5"}},
            )


def test_it_reads_a_page_in_the_same_few_queries_however_long_the_list(
    operator_client, django_assert_max_num_queries
):
    seed_mismatches(1)
    few = query_count(operator_client, url("mismatch"))
    seed_mismatches(30, number=8000)

    with django_assert_max_num_queries(few):
        response = operator_client.get(url("mismatch"))

    assert response.context["table"].paginator.count == 62
    # session, user, permissions (user, groups), stores of the filter, count,
    # the page's ids, its rows, latest outcomes, latest mismatches
    assert few == 10


def test_it_lists_orphans_with_their_own_columns(viewer_client):
    Orphan.objects.create(object_type="line_items", hubspot_id="555", store_key="x:9:1")
    Orphan.objects.create(object_type="deals", hubspot_id="444", store_key="x:9")

    response = viewer_client.get(url("orphan"))

    rows = response.context["table"].page.object_list
    assert [(r.get_cell("object_type"), r.get_cell("hubspot_id")) for r in rows] == [
        ("Deal", "444"),
        ("Line item", "555"),
    ]
    assert column_names(response) == [
        "object_type",
        "hubspot_id",
        "store_key",
        "first_seen",
        "last_seen",
    ]
    assert '<h1>Orphan in HubSpot <span class="muted">2</span></h1>' in response.text
    assert '<a href="/lists/orphan/export.csv">Export CSV</a>' in response.text


def test_it_lists_order_problems_with_a_link_to_each_order(viewer_client):
    make_every_category()
    order = Order.objects.get(number="1001")
    OrderProblem.objects.create(
        order=order,
        code=OrderProblem.Code.AMOUNT_SUM,
        store_value="45.90",
        hubspot_value="43.35",
    )
    OrderProblem.objects.create(
        order=order,
        code=OrderProblem.Code.LINE_COUNT,
        store_value="3",
        hubspot_value="2",
    )

    response = viewer_client.get(url("order-problem"))

    rows = response.context["table"].page.object_list
    assert [
        (r.get_cell("order"), r.get_cell("code"), r.get_cell("store_value"))
        for r in rows
    ] == [
        (
            f'<a href="/orders/{order.pk}/">1001</a>',
            '<span class="code">LINE_COUNT</span> Different number of line items',
            "3",
        ),
        (
            f'<a href="/orders/{order.pk}/">1001</a>',
            '<span class="code">AMOUNT_SUM</span> '
            "Line amounts do not add up to the deal amount",
            "45.90",
        ),
    ]
    assert "2 problems in 1 order" in response.text


def test_the_errors_page_counts_each_reason_code_per_list_and_links_its_items(
    viewer_client,
):
    make_every_category()
    set_state(
        "shop:1001:3",
        ItemState.FAILED,
        reason="A value is not one of the options the HubSpot property allows. "
        "HubSpot said: 9 is not a valid option",
        next_step="Add the option in HubSpot.",
    )
    set_state("shop:C1004:1", ItemState.TRANSIENT, reason_code="TRANSIENT")
    set_state("shop:C1004", ItemState.TRANSIENT, reason_code="TRANSIENT")
    set_state("outlet:2001", ItemState.FAILED, reason_code="INVALID_OPTION")
    set_state("shop:1001:1", ItemState.VERIFIED, reason_code="ASSOCIATION_FAILED")

    response = viewer_client.get(reverse("reconcile:error-list"))

    errors = response.context["errors"]
    assert [(e["code"], e["category"].slug, e["items"]) for e in errors] == [
        ("INVALID_OPTION", "failed", 2),
        ("UNREPORTED_SKIP", "unreported", 2),
        ("MISMATCH", "mismatch", 1),
        ("TRANSIENT", "never-synced", 1),
        ("TRANSIENT", "waiting", 1),
    ]
    assert errors[0]["reason"] == (
        "A value is not one of the options the HubSpot property allows."
    )
    assert errors[0]["next_step"] == "Add the option in HubSpot."
    assert errors[0]["url"] == "/lists/failed/?code=INVALID_OPTION"
    assert (
        '<a href="/lists/failed/?code=INVALID_OPTION" aria-label="2 Failed items '
        'with INVALID_OPTION">2</a>'
    ) in response.text


def test_each_error_link_lists_exactly_the_items_with_that_code(viewer_client):
    make_every_category()
    set_state("outlet:2001", ItemState.FAILED, reason_code="INVALID_OPTION")
    set_state("shop:1002:1", ItemState.FAILED, reason_code="NEGATIVE_VALUE")

    response = viewer_client.get(url("failed"), {"code": "INVALID_OPTION"})

    assert shown_keys(response) == ["outlet:2001", "shop:1001:3"]


def test_the_items_page_filters_by_reason_code_too(viewer_client):
    make_every_category()

    response = viewer_client.get(reverse("reconcile:item-list"), {"code": "MISMATCH"})

    assert shown_keys(response) == ["shop:1001:2"]


def test_the_errors_page_says_when_there_is_nothing(viewer_client):
    response = viewer_client.get(reverse("reconcile:error-list"))

    assert "No item that needs attention carries a reason code." in response.text


def test_a_large_list_shows_the_same_rows_and_count(viewer_client, monkeypatch):
    make_every_category()
    monkeypatch.setattr(filters, "SORT_AT_MOST", 1)

    response = viewer_client.get(url("never-synced"), {"sort": "-key"})

    assert response.context["table"].paginator.count == 3
    assert [r.record.key for r in response.context["table"].page.object_list] == [
        "shop:C1004:1",
        "outlet:2001:1",
        "outlet:2001",
    ]


def test_the_items_page_links_its_export_with_its_filters(viewer_client):
    make_every_category()

    response = viewer_client.get(
        reverse("reconcile:item-list"), {"state": "failed", "q": "", "page": "1"}
    )

    assert '<a href="/items/export.csv?state=failed">Export CSV</a>' in response.text


def test_a_list_longer_than_it_pages_through_says_so(viewer_client, monkeypatch):
    make_every_category()
    monkeypatch.setattr(tables, "LIST_DEPTH", 2)
    monkeypatch.setattr(lists, "LIST_DEPTH", 2)

    items = viewer_client.get(reverse("reconcile:item-list"), {"per_page": "1"})
    never_synced = viewer_client.get(url("never-synced"), {"page": "99"})

    assert items.context["table"].paginator.count == 2
    assert "More than 2 items" in items.text
    assert "the CSV holds every item" in items.text
    assert "<h1>Never synced <span" in never_synced.text
    assert '<span class="muted">over 2</span>' in never_synced.text
    # Past the last page it pages to: that page, with the note.
    assert never_synced.context["table"].page.number == 1
    assert "More than 2 items" in never_synced.text
    assert "Retry all (more than 2) in this list" not in never_synced.text  # viewer


def test_a_short_list_counts_every_item_and_says_nothing_more(viewer_client):
    make_every_category()

    response = viewer_client.get(url("never-synced"))

    assert "3 items" in response.text
    assert "pages through its first" not in response.text


def test_a_later_page_shows_its_rows_in_the_lists_order(viewer_client):
    make_every_category()

    first = viewer_client.get(url("never-synced"), {"per_page": "2", "sort": "key"})
    second = viewer_client.get(
        url("never-synced"), {"per_page": "2", "sort": "key", "page": "2"}
    )

    rows = [r.record.key for r in first.context["table"].page.object_list]
    rows += [r.record.key for r in second.context["table"].page.object_list]
    assert rows == ["outlet:2001", "outlet:2001:1", "shop:C1004:1"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plans")
def test_a_searched_category_finds_its_items_by_the_search_not_the_state():
    from django.http import QueryDict

    make_every_category()

    plan = filters.filtered_items(QueryDict("q=SKU2"), "in-sync").qs.explain()

    assert "INTEGER PRIMARY KEY" in plan
    assert "state" not in plan.split("LIST SUBQUERY")[0]


@pytest.mark.parametrize(
    ("slug", "boxes"), [("in-sync", False), ("excluded", False), ("failed", True)]
)
def test_operators_get_checkboxes_only_where_a_retry_can_send(
    operator_client, slug, boxes
):
    make_shop()

    response = operator_client.get(reverse("reconcile:category-list", args=[slug]))

    assert ('type="checkbox"' in response.text) is boxes


def test_items_that_ever_had_an_outcome_are_listed(viewer_client):
    from hubspot_sync.models import Outcome
    from tests.factories import item, make_outcome

    make_shop()
    settled = item("shop:1001:1")  # verified now, skipped once
    make_outcome(settled, Outcome.UNREPORTED_SKIP)
    make_outcome(settled, Outcome.VERIFIED)

    response = viewer_client.get(
        reverse("reconcile:item-list"), {"ever": "unreported_skip"}
    )

    keys = [row.record.key for row in response.context["table"].page.object_list]
    assert keys == ["shop:1001:1"]
