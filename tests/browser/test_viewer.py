"""A viewer finds a mismatch, filters the items list and reads an order's diff."""

import pytest

from hubspot_sync.models import ItemState, Outcome
from reconcile.roles import VIEWER
from tests.browser.conftest import log_in
from tests.factories import item, make_outcome, make_shop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_viewer_filters_the_items_and_opens_an_orders_differences(page, make_user):
    make_shop()  # line 1001:2 is in mismatch
    make_outcome(
        item("shop:1001:2"),
        Outcome.MISMATCH,
        source="sweep",
        mismatches={
            "quantity": {
                "store": "6",
                "hubspot": "60",
                "changed_at": "2026-12-04T09:30:00.000Z",
                "source": "CRM_UI",
            }
        },
    )
    make_user("vera", VIEWER)

    log_in(page, "vera")
    page.get_by_role("link", name="Items", exact=True).click()
    page.get_by_label("State").select_option(ItemState.MISMATCH.value)
    page.get_by_role("button", name="Filter").click()

    page.wait_for_url("**/items/?*state=mismatch*")
    rows = page.locator("table.items > tbody > tr")
    assert rows.count() == 1
    assert "shop:1001:2" in rows.first.inner_text()
    # A viewer may look, not retry.
    assert page.get_by_role("checkbox").count() == 0

    page.get_by_role("link", name="shop:1001:2", exact=True).click()
    page.wait_for_url("**/orders/**")
    table = page.get_by_role("table").filter(has_text="Store value")
    cells = table.locator("tbody tr").first.locator("td").all_inner_texts()
    assert cells == ["quantity", "6", "60", "4 Dec 2026 09:30:00", "CRM_UI"]
