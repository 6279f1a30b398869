"""What mapping.py sends to HubSpot for an order: the deal's close date."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from hubspot_sync.models import SyncItem
from reconcile.mapping import deal_properties
from reconcile.models import Order, Store

LONDON = ZoneInfo("Europe/London")


def closedate(placed_at: datetime) -> str:
    order = Order(store=Store(slug="shop"), number="1001", placed_at=placed_at)
    return deal_properties(order, [])["closedate"]


@pytest.mark.parametrize(
    ("placed_at", "sent"),
    [
        (datetime(2010, 12, 1, 8, 26, tzinfo=LONDON), "2010-12-01T08:26:00.000Z"),
        # Summer time: London is an hour ahead of UTC.
        (datetime(2011, 7, 1, 8, 26, tzinfo=LONDON), "2011-07-01T07:26:00.000Z"),
        (datetime(2100, 12, 31, 23, 59, 59, tzinfo=UTC), "2100-12-31T23:59:59.000Z"),
    ],
)
def test_it_sends_the_close_date_in_utc_with_milliseconds(placed_at, sent):
    assert closedate(placed_at) == sent


@pytest.mark.parametrize(
    ("placed_at", "sent"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
        (datetime(999, 12, 31, 23, 59, tzinfo=UTC), "0999-12-31T23:59:00.000Z"),
    ],
)
def test_it_writes_a_four_digit_year_always(placed_at, sent):
    assert closedate(placed_at) == sent


def test_it_drops_microseconds_as_before():
    placed_at = datetime(2011, 1, 26, 12, 35, 7, 123456, tzinfo=UTC)

    assert closedate(placed_at) == "2011-01-26T12:35:07.000Z"


@pytest.mark.django_db
def test_it_restages_more_than_a_thousand_changed_lines_at_once(tmp_path):
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    rows = [
        f"{536365 + n // 50},85123A,WHITE HANGING HEART,{{q}},"
        "2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
        for n in range(1100)
    ]
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(header + "".join(r.format(q=6) for r in rows))
    second.write_text(header + "".join(r.format(q=7) for r in rows))
    call_command("import_orders", str(first), format="online-retail", verbosity=0)

    call_command("import_orders", str(second), format="online-retail", verbosity=0)

    assert SyncItem.objects.filter(properties__quantity="7").count() == 1100
