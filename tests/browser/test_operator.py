"""An operator finds a field edited in HubSpot, retries it and exports a list."""

import codecs
import csv
import io

import pytest

from hubspot_sync import engine
from hubspot_sync.models import ItemState
from hubspot_sync.sandbox.remote import SandboxControl
from reconcile.roles import OPERATOR
from reconcile.sweep import create_sweep, run_sweep_inline
from tests.browser.conftest import log_in
from tests.factories import item, make_staged_order, make_store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def edited_in_hubspot(hubspot):
    """Order 1001 synced, its line 2's quantity changed by a person in HubSpot, swept."""
    make_staged_order(make_store(), "1001", lines=2)
    run = engine.run_inline(engine.create_run().pk)
    assert run.summary  # the sync ran against the sandbox
    line = item("shop:1001:2")
    SandboxControl(hubspot.url, "sandbox-token").edit(
        "line_items", line.hubspot_id, {"quantity": "60"}
    )
    run_sweep_inline(create_sweep().pk)
    assert item("shop:1001:2").state == ItemState.MISMATCH
    return line


def test_an_operator_retries_a_mismatch_and_watches_it_verified(
    page, make_user, edited_in_hubspot, run_tasks_inline
):
    make_user("olga", OPERATOR)

    log_in(page, "olga")
    page.get_by_role("link", name="Field mismatch").click()
    rows = page.locator("table.items > tbody > tr")
    assert rows.count() == 1
    row = rows.filter(has_text="shop:1001:2")
    row.get_by_role("link", name="1001", exact=True).click()
    page.wait_for_url("**/orders/**")

    differences = page.get_by_role("table").filter(has_text="Store value")
    cells = differences.locator("tbody tr").first.locator("td").all_inner_texts()
    assert cells[:3] == ["quantity", "6", "60"]
    assert cells[4] == "CRM_UI, user 2934716"  # the sandbox's default person

    line = page.locator("#line-2")
    line.get_by_role("button", name="Retry…").click()
    page.get_by_role("button", name="Retry 1 item").click()

    page.wait_for_url("**/runs/*/")
    assert page.get_by_text("Done", exact=True).first.is_visible()
    assert item("shop:1001:2").state == ItemState.VERIFIED

    page.go_back()
    page.go_back()
    page.reload()
    assert "Verified" in page.locator("#line-2").inner_text()


def test_an_operator_exports_the_items_list_as_csv(page, make_user, edited_in_hubspot):
    make_user("olga", OPERATOR)

    log_in(page, "olga")
    page.get_by_role("link", name="Items", exact=True).click()
    page.get_by_label("State").select_option(ItemState.MISMATCH.value)
    page.get_by_role("button", name="Filter").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    raw = open(download_info.value.path(), "rb").read()

    assert raw.startswith(codecs.BOM_UTF8)
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [row["Key"] for row in rows] == ["shop:1001:2"]
    assert rows[0]["State"] == "Mismatch"
    assert (rows[0]["Differing fields"], rows[0]["HubSpot values"]) == (
        "quantity",
        "quantity: 60",
    )
