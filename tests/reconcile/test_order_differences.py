import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from hubspot_sync.models import Outcome
from reconcile import answers
from tests.factories import item, make_call, make_outcome, make_run, make_shop

pytestmark = pytest.mark.django_db


def order_url(key: str) -> str:
    return reverse("reconcile:order-detail", args=[item(key).order.pk])


def test_the_order_page_shows_each_differing_field_from_the_latest_mismatch(
    viewer_client,
):
    make_shop()  # line 1001:2 is in mismatch
    line = item("shop:1001:2")
    make_outcome(
        line, Outcome.MISMATCH, mismatches={"quantity": {"store": "6", "hubspot": "5"}}
    )
    make_outcome(
        line,
        Outcome.MISMATCH,
        source="sweep",
        mismatches={
            "price": {
                "store": "2.55",
                "hubspot": "3",
                "changed_at": "2026-12-04T10:15:00.000Z",
                "source": "CRM_UI",
            }
        },
    )

    response = viewer_client.get(order_url("shop:1001"))

    rows = [
        (d.item.key, d.field, d.store, d.hubspot, d.changed_at.isoformat(), d.source)
        for d in response.context["differences"]
    ]
    assert rows == [
        ("shop:1001:2", "price", "2.55", "3", "2026-12-04T10:15:00+00:00", "CRM_UI")
    ]
    assert '<td class="hubspot">3</td>' in response.text
    assert "Line 2</a>" in response.text


def test_the_order_page_shows_only_what_hubspot_said_about_this_order(viewer_client):
    make_shop()
    run = make_run()
    mine = item("shop:1001:1")
    answer = {
        "status": "COMPLETE",
        "results": [
            {"id": "501", "properties": {"tally_line_key": "other:1"}},
            {"id": "502", "properties": {"tally_line_key": "shop:1001:1"}},
        ],
    }
    call = make_call(run, response_body=json.dumps(answer))
    make_outcome(mine, Outcome.CREATED, call)

    response = viewer_client.get(order_url("shop:1001"))

    (row,) = response.context["call_rows"]
    assert json.loads(row["excerpt"]) == {
        "status": "COMPLETE",
        "results": [{"id": "502", "properties": {"tally_line_key": "shop:1001:1"}}],
    }
    assert "other:1" not in response.text


def test_an_excerpt_names_lists_with_nothing_about_the_order():
    body = json.dumps(
        {
            "status": "COMPLETE",
            "results": [{"id": "7"}],
            "errors": [{"context": {"ids": ["9001"]}, "message": "bad"}],
        }
    )

    text = answers.excerpt(body, {"9001"})

    assert json.loads(text) == {
        "status": "COMPLETE",
        "results": "1 entries, none about this order",
        "errors": [{"context": {"ids": ["9001"]}, "message": "bad"}],
    }
    assert answers.excerpt(body, {"nothing"}) == ""
    assert answers.excerpt("<html>502</html>", {"x"}) == "<html>502</html>"
    assert answers.excerpt("", {"x"}) == ""


def test_the_order_page_lists_its_problems_with_a_next_step(viewer_client):
    from reconcile.models import OrderProblem

    make_shop()
    order = item("shop:1001").order
    OrderProblem.objects.create(
        order=order,
        code=OrderProblem.Code.AMOUNT_SUM,
        store_value="45.90",
        hubspot_value="0",
    )

    response = viewer_client.get(order_url("shop:1001"))

    (problem,) = response.context["problems"]
    assert (problem.code, problem.store_value, problem.hubspot_value) == (
        "AMOUNT_SUM",
        "45.90",
        "0",
    )
    assert "Order does not add up in HubSpot" in response.text
    assert escape(problem.next_step) in response.text
    assert problem.next_step.startswith("Compare the deal amount")
