import re
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from hubspot_sync.models import Outcome
from reconcile.models import LineItem
from tests.factories import (
    PLACED,
    item,
    make_call,
    make_outcome,
    make_run,
    make_shop,
    make_staged_order,
    make_store,
)

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


@time_machine.travel(PLACED, tick=False)
def test_it_shows_each_items_history_newest_first_linking_its_call(viewer_client):
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

    response = viewer_client.get(order_url("shop:1001"), {"line": "2"})

    _, history = response.context["lines"][1]
    assert history == [
        '<li><span class="when">1 Dec 2010 08:26:00</span> '
        '<span class="badge badge-mismatch">Mismatch</span> '
        '<span class="what">price: store &#x27;2.55&#x27;, HubSpot &#x27;2.5&#x27;'
        f'</span> · <a href="/calls/{second.pk}/">call #{second.pk}</a>'
        f' · run <a href="/runs/{run.pk}/">#{run.pk}</a></li>',
        '<li><span class="when">1 Dec 2010 08:26:00</span> '
        '<span class="badge badge-created">Created</span> '
        '<span class="what">created 7002</span>'
        f' · <a href="/calls/{first.pk}/">call #{first.pk}</a>'
        f' · run <a href="/runs/{run.pk}/">#{run.pk}</a></li>',
    ]
    assert "History of line 2 (2 outcomes)</summary>" in response.text
    assert [row["call"].pk for row in response.context["call_rows"]] == [
        first.pk,
        second.pk,
    ]
    assert f'<td><a href="/calls/{first.pk}/">call #{first.pk}</a></td>' in (
        response.text
    )


@time_machine.travel(PLACED, tick=False)
def test_it_folds_each_lines_history_to_its_latest_outcome(viewer_client):
    make_shop()
    run = make_run()
    first, second = make_call(run), make_call(run)
    line = item("shop:1001:2")
    make_outcome(line, Outcome.CREATED, first, new=True, hubspot_id="7002")
    make_outcome(line, Outcome.VERIFIED, second)

    response = viewer_client.get(order_url("shop:1001"))

    _, history = response.context["lines"][1]
    assert len(history) == 1
    assert "badge-verified" in history[0]
    assert (
        '<a class="small" href="?line=2#line-2">History of line 2 (2 outcomes)</a>'
    ) in response.text
    # Only the calls behind the outcomes shown.
    assert [row["call"].pk for row in response.context["call_rows"]] == [second.pk]


def test_it_links_calls_instead_of_inlining_their_bodies(viewer_client):
    make_shop()
    run = make_run()
    body = '{"inputs": [' + ", ".join(['{"id": "other-order"}'] * 3000) + "]}"
    call = make_call(run, request_body=body, response_body=body)
    for key in ("shop:1001", "shop:1001:1", "shop:1001:2", "shop:1001:3"):
        make_outcome(item(key), Outcome.VERIFIED, call)

    response = viewer_client.get(order_url("shop:1001"))

    assert "other-order" not in response.text
    assert response.text.count(f'<a href="/calls/{call.pk}/">call #{call.pk}</a>') == 5
    assert len(response.content) < 20_000


def test_it_keeps_a_700_line_order_page_under_a_megabyte(viewer_client):
    order = make_staged_order(make_store(), "537434", lines=700)
    run = make_run()
    body = '{"inputs": [' + ", ".join(['{"id": "x"}'] * 5000) + "]}"
    call = make_call(run, request_body=body, response_body=body)
    for line in order.lines.select_related("sync_item"):
        make_outcome(line.sync_item, Outcome.CREATED, call, new=True, hubspot_id="1")
        make_outcome(line.sync_item, Outcome.ASSOCIATED, call, association=True)

    address = reverse("reconcile:order-detail", args=[order.pk])
    folded = viewer_client.get(address)
    unfolded = viewer_client.get(address, {"line": "5"})

    assert folded.text.count('<li><span class="when">') == 700
    assert unfolded.text.count('<li><span class="when">') == 701
    assert len(folded.content) < 1_000_000


@time_machine.travel(PLACED, tick=False)
def test_it_says_what_tally_decided_when_hubspot_was_not_asked(viewer_client):
    make_shop()
    make_outcome(item("shop:1001:3"), Outcome.FAILED, association=True)  # no call
    make_outcome(item("shop:1001"), Outcome.VERIFIED)  # no run, no call

    response = viewer_client.get(order_url("shop:1001"))

    _, history = response.context["lines"][2]
    assert history == [
        '<li><span class="when">1 Dec 2010 08:26:00</span> '
        '<span class="badge badge-failed">Failed</span> '
        '<span class="what">Tally: not sent — its deal is not in HubSpot</span></li>'
    ]
    assert response.context["deal_history"] == [
        '<li><span class="when">1 Dec 2010 08:26:00</span> '
        '<span class="badge badge-verified">Verified</span> '
        '<span class="what">Tally: verified, no HubSpot call stored</span></li>'
    ]
    assert response.context["call_rows"] == []


def test_it_shows_an_excluded_deal_as_not_synced_by_design(viewer_client):
    make_shop()

    response = viewer_client.get(order_url("shop:1003"))

    assert (
        '<p class="muted"><span class="badge badge-excluded">Not synced by design</span>'
        " A stock write-off in the warehouse, not a sale.</p>"
    ) in response.text
    assert "Properties sent" not in response.text
    assert "Properties to send" not in response.text
    assert "Not sent or checked yet." not in response.text
    assert "History of line" not in response.text


def test_it_calls_a_pending_deals_properties_to_send(viewer_client):
    make_shop()

    pending = viewer_client.get(order_url("shop:C1004"))
    verified = viewer_client.get(order_url("shop:1001"))

    assert "<summary>Properties to send</summary>" in pending.text
    assert "Not sent or checked yet." in pending.text
    assert "<summary>Properties sent</summary>" in verified.text


def test_it_reads_a_bounded_number_of_queries(viewer_client, django_assert_num_queries):
    make_shop()
    run = make_run()
    call = make_call(run)
    for key in ("shop:1001", "shop:1001:1", "shop:1001:2", "shop:1001:3"):
        make_outcome(item(key), Outcome.VERIFIED, call)
    url = order_url("shop:1001")

    # session, user, order, lines, their outcomes' ids, the outcomes shown,
    # deal outcomes, calls, the latest differences of the line in mismatch,
    # the order's problems, and the user's permissions (own and through
    # groups: the retry and resync buttons)
    with django_assert_num_queries(12):
        viewer_client.get(url)
