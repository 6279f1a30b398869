"""What mapping.py sends to HubSpot for an order: the deal's close date."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

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
