import re
from decimal import Decimal

import pytest
from django.urls import reverse

from hubspot_sync.models import Outcome
from reconcile.models import LineItem
from tests.factories import item, make_call, make_outcome, make_run, make_shop

pytestmark = pytest.mark.django_db


def order_url(key: str) -> str:
    return reverse("reconcile:order-detail", args=[item(key).order.pk])


def test_it_answers_404_for_an_unknown_order(viewer_client):
    response = viewer_client.get(reverse("reconcile:order-detail", args=[999]))

    assert response.status_code == 404


def test_it_shows_the_lines_in_position_order_with_their_states(viewer_client):
    make_shop()
    lines = LineItem.objects.filter(order__number="1001")
    # Swap the first and last line, so that the rows' stored order is 3, 2, 1.
    lines.filter(position=1).update(position=99)
    lines.filter(position=3).update(position=1)
    lines.filter(position=99).update(position=3)

    response = viewer_client.get(order_url("shop:1001"))

    shown = [
        (line.position, line.sync_item.state) for line, _ in response.context["lines"]
    ]
    assert shown == [(1, "failed"), (2, "mismatch"), (3, "verified")]
    badges = re.findall(
        r'<tbody class="line" id="line-(\d)">.*?<span class="badge badge-\w+">([\w ]+)</span>',
        response.text,
        flags=re.S,
    )
    assert badges == [("1", "Failed"), ("2", "Mismatch"), ("3", "Verified")]


def test_it_shows_the_deal_and_what_was_sent(viewer_client):
    make_shop()

    response = viewer_client.get(order_url("shop:1001"))

    assert response.context["deal"].key == "shop:1001"
    assert response.context["total"] == Decimal("45.90")
    assert "<dt>Total</dt><dd>45.90 GBP</dd>" in response.text
    assert "<dt>HubSpot ID</dt><dd>9001</dd>" in response.text
    assert '<tr><th scope="row"><code>dealname</code></th><td>Order 1001</td></tr>' in (
        response.text
    )


def test_it_shows_each_items_history_newest_first_with_its_call(viewer_client):
    make_shop()
    run = make_run()
    first = make_call(run, response_body='{"status": "<b>first</b>"}')
    second = make_call(run)
    line = item("shop:1001:2")
    make_outcome(line, Outcome.CREATED, first, new=True, hubspot_id="7002")
    make_outcome(
        line,
        Outcome.MISMATCH,
        second,
        mismatches={"price": {"store": "2.55", "hubspot": "2.5"}},
    )

    make_outcome(item("shop:1001"), Outcome.VERIFIED)  # no run, no call

    response = viewer_client.get(order_url("shop:1001"))

    deal_row = response.context["deal_history"].rows[0]
    assert [deal_row.get_cell(name) for name in ("run", "api_call")] == ["—", "—"]
    _, history = response.context["lines"][1]
    assert [row.get_cell("outcome") for row in history.rows] == [
        '<span class="badge badge-mismatch">Mismatch</span>',
        '<span class="badge badge-created">Created</span>',
    ]
    assert [row.get_cell("api_call") for row in history.rows] == [
        f'<a href="#call-{second.pk}">call #{second.pk}</a>',
        f'<a href="#call-{first.pk}">call #{first.pk}</a>',
    ]
    assert [row["call"].pk for row in response.context["call_rows"]] == [
        first.pk,
        second.pk,
    ]
    assert "&quot;status&quot;: &quot;&lt;b&gt;first&lt;/b&gt;&quot;" in response.text


def test_it_reads_a_bounded_number_of_queries(viewer_client, django_assert_num_queries):
    make_shop()
    run = make_run()
    call = make_call(run)
    for key in ("shop:1001", "shop:1001:1", "shop:1001:2", "shop:1001:3"):
        make_outcome(item(key), Outcome.VERIFIED, call)
    url = order_url("shop:1001")

    # session, user, order, lines, their outcomes, deal outcomes, calls
    with django_assert_num_queries(7):
        viewer_client.get(url)
