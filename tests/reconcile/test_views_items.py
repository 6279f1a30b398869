import re

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from hubspot_sync.models import ItemState, Outcome
from reconcile.models import LineItem
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

URL = reverse("reconcile:item-list")


def shown_keys(response) -> list[str]:
    return sorted(row.record.key for row in response.context["table"].page.object_list)


def test_it_filters_by_state_and_type(viewer_client):
    make_shop()

    pending_lines = viewer_client.get(URL, {"state": "pending", "type": "line_items"})
    skips = viewer_client.get(URL, {"state": "unreported_skip"})
    deals = viewer_client.get(URL, {"type": "deals"})

    assert shown_keys(pending_lines) == ["shop:1002:2", "shop:C1004:1"]
    assert shown_keys(skips) == ["shop:1002", "shop:1002:1"]
    assert shown_keys(deals) == ["shop:1001", "shop:1002", "shop:1003", "shop:C1004"]
    assert "2 items" in skips.text


def test_it_searches_by_key_and_hubspot_id(viewer_client):
    make_shop()

    by_key = viewer_client.get(URL, {"q": "C1004"})
    by_id = viewer_client.get(URL, {"q": "7002"})

    assert shown_keys(by_key) == ["shop:C1004", "shop:C1004:1"]
    assert shown_keys(by_id) == ["shop:1001:2"]


def test_it_searches_by_sku_and_order_number_in_any_case(viewer_client):
    make_shop()
    LineItem.objects.filter(order__number="1002", position=1).update(sku="85123A")

    by_sku = viewer_client.get(URL, {"q": "85123a"})
    by_number = viewer_client.get(URL, {"q": "c1004"})
    by_key_start = viewer_client.get(URL, {"q": "shop:1002"})

    assert shown_keys(by_sku) == ["shop:1002:1"]
    assert shown_keys(by_number) == ["shop:C1004", "shop:C1004:1"]
    assert shown_keys(by_key_start) == ["shop:1002", "shop:1002:1", "shop:1002:2"]


def test_it_searches_in_the_same_few_queries(viewer_client):
    make_shop()

    assert query_count(viewer_client, q="SKU2") == 9


def test_it_shows_the_search_help_and_points_aria_at_what_exists(viewer_client):
    response = viewer_client.get(URL, {"state": "lost"})

    assert (
        '<span class="help" id="id_q_helptext">'
        "Order number, SKU, HubSpot ID, start of a store key or reason code</span>"
    ) in response.text
    described = re.findall(r'aria-describedby="([^"]+)"', response.text)
    assert described == [
        "id_q_helptext",
        "id_state_error",
        "id_job_helptext",
        "id_ever_helptext",
    ]
    ids = set(re.findall(r'id="([^"]+)"', response.text))
    assert {name for names in described for name in names.split()} <= ids


def test_it_ignores_an_unknown_state_and_says_so(viewer_client):
    make_shop()

    response = viewer_client.get(URL, {"state": "lost", "type": "deals"})

    assert len(shown_keys(response)) == 4
    assert "Select a valid choice. lost is not one of the available choices." in (
        response.text
    )


def test_it_shows_the_latest_outcome_not_an_older_one(viewer_client):
    make_shop()
    run = make_run()
    call = make_call(run)
    line = item("shop:1001:2")
    make_outcome(line, Outcome.FAILED, call, category="VALIDATION_ERROR")
    make_outcome(
        line,
        Outcome.MISMATCH,
        call,
        new=False,
        hubspot_id="7002",
        mismatches={"price": {"store": "2.55", "hubspot": "2.5"}},
    )

    response = viewer_client.get(URL, {"q": "shop:1001:2"})

    assert response.context["table"].page.object_list[0].get_cell("answered") == (
        '<span class="badge badge-mismatch">Mismatch</span> '
        '<span class="detail">price: store &#x27;2.55&#x27;, HubSpot &#x27;2.5&#x27;</span>'
    )
    assert "VALIDATION_ERROR" not in response.text


def test_it_links_each_key_to_its_order_page(viewer_client):
    make_shop()
    order = item("shop:1001").order

    response = viewer_client.get(URL, {"q": "shop:1001:3"})

    assert f'<a href="/orders/{order.pk}/#line-3">shop:1001:3</a>' in response.text


def test_it_pages_25_items_at_a_time(viewer_client):
    store = make_store()
    for n in range(6):
        make_staged_order(store, f"{2000 + n}", lines=4)

    first = viewer_client.get(URL)
    last = viewer_client.get(URL, {"page": 2})

    assert first.context["table"].paginator.count == 30
    assert len(first.context["table"].page.object_list) == 25
    assert len(last.context["table"].page.object_list) == 5
    assert "30 items" in first.text


def test_it_caps_the_page_size_asked_for(viewer_client):
    store = make_store()
    for n in range(11):
        make_staged_order(store, f"{2000 + n}", lines=9)

    response = viewer_client.get(URL, {"per_page": 100000})

    assert response.context["table"].paginator.count == 110
    assert len(response.context["table"].page.object_list) == 100


def test_it_sorts_by_a_column(viewer_client):
    make_shop()

    response = viewer_client.get(URL, {"type": "deals", "sort": "-key"})

    rows = response.context["table"].page.object_list
    assert [row.record.key for row in rows] == [
        "shop:C1004",
        "shop:1003",
        "shop:1002",
        "shop:1001",
    ]


def query_count(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        client.get(URL, params)
    return len(queries)


def seed_with_outcomes(orders: int) -> None:
    store = make_store(slug=f"s{orders}")
    run = make_run()
    call = make_call(run)
    for n in range(orders):
        order = make_staged_order(store, f"{3000 + n}", lines=2)
        make_outcome(order.sync_item, Outcome.VERIFIED, call, new=True, hubspot_id="1")
        for line in order.lines.all():
            make_outcome(line.sync_item, Outcome.CREATED, call)
            make_outcome(line.sync_item, Outcome.VERIFIED, call)


def test_it_uses_the_same_few_queries_for_3_or_63_items(
    viewer_client, django_assert_max_num_queries
):
    seed_with_outcomes(1)
    few = query_count(viewer_client)
    seed_with_outcomes(20)

    with django_assert_max_num_queries(few):
        response = viewer_client.get(URL)

    assert response.context["table"].paginator.count == 63
    # session, user, permissions (user, groups), stores of the filter, count,
    # the page's ids, its rows, latest outcomes
    assert few == 9


def test_it_cuts_long_hubspot_messages_and_keeps_them_whole_on_hover(viewer_client):
    make_shop()
    message = 'Property values were not valid: [{"isValid":false,' + "x" * 300 + "}]"
    reason = f"HubSpot refused a value as invalid. HubSpot said: {message}"
    line = set_state("shop:1001:3", ItemState.FAILED, reason=reason)
    make_outcome(line, Outcome.FAILED, make_call(make_run()), message=message)

    response = viewer_client.get(URL, {"q": "shop:1001:3"})

    row = response.context["table"].page.object_list[0]
    assert row.get_cell("reason") == (
        f'<span title="{escape(reason)}">{escape(reason[:139])}…</span>'
    )
    assert row.get_cell("answered") == (
        '<span class="badge badge-failed">Failed</span> <span class="detail">'
        f'<span title="{escape(message)}">{escape(message[:139])}…</span></span>'
    )


def test_it_says_tally_decided_when_hubspot_was_never_asked(viewer_client):
    make_shop()
    make_outcome(item("shop:1001:3"), Outcome.FAILED, association=True)  # no call

    response = viewer_client.get(URL, {"q": "shop:1001:3"})

    row = response.context["table"].page.object_list[0]
    assert row.get_cell("answered") == (
        '<span class="decision">Tally: not sent — its deal is not in HubSpot</span>'
    )


def test_it_breaks_long_text_inside_its_cell(viewer_client):
    make_shop()

    response = viewer_client.get(URL, {"q": "shop:1001:3"})
    stylesheet = open(finders.find("css/tally.css")).read()

    assert '<td class="prose">A value is not one of the options' in response.text
    rule = re.search(r"table\.data td\.prose \{([^}]*)\}", stylesheet)[1]
    assert "overflow-wrap: anywhere;" in rule
    assert "max-width: 28rem;" in rule
