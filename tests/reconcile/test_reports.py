import csv
import io
from datetime import UTC, datetime

import pytest
import time_machine
from django.http import StreamingHttpResponse
from django.urls import reverse

from hubspot_sync.models import ItemState, Outcome
from reconcile import reports
from reconcile.models import LineItem, Order, OrderProblem, Orphan
from tests.factories import (
    item,
    make_call,
    make_outcome,
    make_run,
    make_shop,
    set_state,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
HEADER = [
    "Key",
    "Type",
    "Order",
    "Store",
    "SKU",
    "State",
    "HubSpot ID",
    "Association",
    "Differing fields",
    "Store values",
    "HubSpot values",
    "HubSpot changed (UTC)",
    "Reason code",
    "Reason",
    "Next step",
    "Attempts",
    "Last attempt (UTC)",
    "Last outcome",
    "State since (UTC)",
]


@pytest.fixture
def shop():
    with time_machine.travel(NOW, tick=False):
        return make_shop()


def download(client, address: str, params=None) -> bytes:
    response = client.get(address, params or {})
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def parsed(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def export(client, slug: str, params=None) -> list[list[str]]:
    address = reverse("reconcile:category-export", args=[slug])
    return parsed(download(client, address, params))


def keys(rows: list[list[str]]) -> list[str]:
    return [row[0] for row in rows[1:]]


def test_it_streams_a_dated_utf8_attachment_with_a_byte_order_mark(viewer_client, shop):
    with time_machine.travel(NOW, tick=False):
        response = viewer_client.get(reverse("reconcile:item-export"))
    body = b"".join(response.streaming_content)

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="tally-items-2026-12-04.csv"'
    )
    assert body.startswith(b"\xef\xbb\xbfKey,Type,Order,Store,SKU,State,")
    assert body.count(b"\xef\xbb\xbf") == 1
    assert body.endswith(b"\r\n")


def test_a_category_export_is_named_after_its_list(viewer_client, shop):
    with time_machine.travel(NOW, tick=False):
        response = viewer_client.get(
            reverse("reconcile:category-export", args=["unreported"])
        )

    assert response["Content-Disposition"] == (
        'attachment; filename="tally-unreported-2026-12-04.csv"'
    )


def test_it_exports_every_item_with_every_column(viewer_client, shop):
    rows = parsed(download(viewer_client, reverse("reconcile:item-export")))

    assert rows[0] == HEADER
    assert keys(rows) == [
        "shop:1001",
        "shop:1001:1",
        "shop:1001:2",
        "shop:1001:3",
        "shop:1002",
        "shop:1002:1",
        "shop:1002:2",
        "shop:1003",
        "shop:1003:1",
        "shop:C1004",
        "shop:C1004:1",
    ]
    assert rows[1] == [
        "shop:1001",
        "Deal",
        "1001",
        "Test shop",
        "",
        "Verified",
        "9001",
        "Not applicable",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "0",
        "",
        "",
        "2026-12-04 09:30:00",
    ]
    assert rows[4] == [
        "shop:1001:3",
        "Line item",
        "1001",
        "Test shop",
        "SKU3",
        "Failed",
        "",
        "Pending",
        "",
        "",
        "",
        "",
        "INVALID_OPTION",
        "A value is not one of the options the HubSpot property allows.",
        "",
        "0",
        "",
        "",
        "2026-12-04 09:30:00",
    ]


def test_it_exports_the_differing_fields_and_the_latest_attempt(viewer_client, shop):
    line = set_state("shop:1001:2", ItemState.MISMATCH, attempts=2)
    call = make_call(make_run())
    with time_machine.travel(datetime(2026, 12, 1, 8, 0, tzinfo=UTC), tick=False):
        make_outcome(line, Outcome.MISMATCH, call, mismatches={"price": {"store": 1}})
    with time_machine.travel(datetime(2026, 12, 2, 8, 0, tzinfo=UTC), tick=False):
        make_outcome(
            line,
            Outcome.MISMATCH,
            call,
            mismatches={
                "quantity": {"store": 6, "hubspot": 5},
                "price": {
                    "store": "2.55",
                    "hubspot": "2.5",
                    "changed_at": 1764662400000,
                    "source": "CRM_UI",
                },
            },
        )
    with time_machine.travel(datetime(2026, 12, 3, 7, 45, 10, tzinfo=UTC), tick=False):
        make_outcome(line, Outcome.ASSOCIATED, call, association=True)

    rows = export(viewer_client, "mismatch")

    assert rows == [
        HEADER,
        [
            "shop:1001:2",
            "Line item",
            "1001",
            "Test shop",
            "SKU2",
            "Mismatch",
            "7002",
            "Linked",
            "price; quantity",
            "price: 2.55; quantity: 6",
            "price: 2.5; quantity: 5",
            "price: 2025-12-02 08:00:00 (CRM_UI)",
            "MISMATCH",
            "",
            "",
            "2",
            "2026-12-03 07:45:10",
            "Associated",
            "2026-12-04 09:30:00",
        ],
    ]


def test_it_reads_the_sweeps_diffs_too(viewer_client, shop):
    line = item("shop:1001:2")
    make_outcome(
        line,
        Outcome.MISMATCH,
        diffs={
            "amount": {
                "store": "15.30",
                "hubspot": "-15.30",
                "changed_at": "2026-11-30T12:00:00Z",
            }
        },
    )

    row = export(viewer_client, "mismatch")[1]

    assert row[8:12] == [
        "amount",
        "amount: 15.30",
        "amount: -15.30",
        "amount: 2026-11-30 12:00:00",
    ]


def test_it_leaves_differences_out_once_an_item_is_no_longer_a_mismatch(
    viewer_client, shop
):
    line = item("shop:1001:1")
    make_outcome(line, Outcome.MISMATCH, mismatches={"price": {"store": "1"}})
    make_outcome(line, Outcome.VERIFIED)

    row = export(viewer_client, "in-sync", {"q": "shop:1001:1"})[1]

    assert row[8:12] == ["", "", "", ""]
    assert row[17] == "Verified"


@pytest.mark.parametrize(
    "text, shown",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("plain = text", "plain = text"),
        ("", ""),
    ],
)
def test_it_neutralises_cells_a_spreadsheet_would_run(viewer_client, shop, text, shown):
    set_state(
        "shop:1001:3",
        ItemState.FAILED,
        reason=text,
        next_step=text,
        reason_code=text,
        hubspot_id=text,
    )
    LineItem.objects.filter(order__number="1001", position=3).update(sku=text)

    row = export(viewer_client, "failed")[1]

    assert [row[4], row[6], row[12], row[13], row[14]] == [shown] * 5


def test_it_neutralises_the_order_number_and_the_store_name(viewer_client, shop):
    Order.objects.filter(number="1002").update(number="=1002")
    shop.name = "@Shop"
    shop.save()

    rows = export(viewer_client, "unreported")

    assert [row[2:4] for row in rows[1:]] == [["'=1002", "'@Shop"]] * 2


def test_it_exports_exactly_what_the_list_filters(viewer_client, shop):
    by_type = export(viewer_client, "never-synced", {"type": "line_items"})
    by_search = keys(
        parsed(download(viewer_client, "/items/export.csv", {"q": "C1004"}))
    )
    by_state = keys(
        parsed(
            download(viewer_client, "/items/export.csv", {"state": "unreported_skip"})
        )
    )
    by_code = keys(
        parsed(download(viewer_client, "/items/export.csv", {"code": "INVALID_OPTION"}))
    )
    by_date = export(viewer_client, "unreported", {"placed_after": "2010-12-02"})

    assert keys(by_type) == ["shop:1002:2", "shop:C1004:1"]
    assert by_search == ["shop:C1004", "shop:C1004:1"]
    assert by_state == ["shop:1002", "shop:1002:1"]
    assert by_code == ["shop:1001:3"]
    assert by_date == [HEADER]


def test_the_export_and_the_list_select_the_same_items(viewer_client, shop):
    params = {"q": "SKU1", "sort": "-key", "page": "1"}
    listed = viewer_client.get(reverse("reconcile:item-list"), params)
    exported = keys(parsed(download(viewer_client, "/items/export.csv", params)))

    assert exported == sorted(
        r.record.key for r in listed.context["table"].page.object_list
    )
    assert exported == ["shop:1001:1", "shop:1002:1", "shop:1003:1", "shop:C1004:1"]


def test_it_exports_orphans(viewer_client):
    with time_machine.travel(NOW, tick=False):
        Orphan.objects.create(
            object_type="line_items",
            hubspot_id="555",
            store_key="shop:9:1",
            properties={"name": "=cmd", "amount": "2"},
        )
        Orphan.objects.create(
            object_type="deals", hubspot_id="444", store_key="-shop:9"
        )

    rows = export(viewer_client, "orphan")

    assert rows == [
        [
            "Type",
            "HubSpot ID",
            "Store key",
            "First seen (UTC)",
            "Last seen (UTC)",
            "HubSpot properties",
        ],
        ["Deal", "444", "'-shop:9", "2026-12-04 09:30:00", "2026-12-04 09:30:00", ""],
        [
            "Line item",
            "555",
            "shop:9:1",
            "2026-12-04 09:30:00",
            "2026-12-04 09:30:00",
            '{"amount": "2", "name": "=cmd"}',
        ],
    ]


def test_it_exports_order_problems_keeping_plain_negative_amounts_numeric(
    viewer_client, shop
):
    order = Order.objects.get(number="C1004")
    with time_machine.travel(NOW, tick=False):
        OrderProblem.objects.create(
            order=order,
            code=OrderProblem.Code.AMOUNT_SUM,
            store_value="-15.30",
            hubspot_value="-1+2",
        )
        OrderProblem.objects.create(
            order=order,
            code=OrderProblem.Code.CURRENCY,
            store_value="GBP",
            hubspot_value="=EUR",
        )

    rows = export(viewer_client, "order-problem")

    assert rows == [
        [
            "Order",
            "Store",
            "Code",
            "Problem",
            "Store value",
            "HubSpot value",
            "Found (UTC)",
        ],
        [
            "C1004",
            "Test shop",
            "AMOUNT_SUM",
            "Line amounts do not add up to the deal amount",
            "-15.30",
            "'-1+2",
            "2026-12-04 09:30:00",
        ],
        [
            "C1004",
            "Test shop",
            "CURRENCY",
            "Different currency",
            "GBP",
            "'=EUR",
            "2026-12-04 09:30:00",
        ],
    ]


def test_an_empty_list_exports_its_header_only(viewer_client):
    body = download(viewer_client, "/lists/duplicate/export.csv")

    assert body == ("\ufeff" + ",".join(HEADER) + "\r\n").encode()


def test_it_sends_anonymous_users_to_login(client):
    address = reverse("reconcile:item-export")

    response = client.get(address)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={address}"


def test_it_sends_the_file_in_pieces_of_a_few_hundred_rows(shop, monkeypatch):
    monkeypatch.setattr(reports, "SEND_ROWS", 4)
    report = reports.items({})

    pieces = list(report)

    assert [piece.count(b"\r\n") for piece in pieces] == [1, 4, 4, 3]
    assert report.rows_written == 11


@pytest.mark.parametrize(
    "text, shown",
    [
        ("-15.30", "-15.30"),
        ("-15", "-15"),
        ("15.30", "15.30"),
        ("-15.", "'-15."),
        ("-1e3", "'-1e3"),
        ("-15.30\n", "'-15.30\n"),
        ("=1", "'=1"),
        ("GBP", "GBP"),
    ],
)
def test_only_a_plain_number_stays_a_number(text, shown):
    assert reports.neutralise_number(text) == shown


def test_an_export_with_a_bad_filter_is_refused_not_widened(viewer_client):
    """QA: ?placed_after=2010-13-45 exported every item, with nothing to say so."""
    from tests.factories import make_shop

    make_shop()

    items = viewer_client.get("/items/export.csv?placed_after=2010-13-45")
    category = viewer_client.get("/lists/failed/export.csv?state=bogus")

    assert items.status_code == 400
    assert items.content.decode().startswith(
        "Nothing exported: a filter is not valid (placed_after: Enter a valid date."
    )
    assert category.status_code == 400
    assert "state: Select a valid choice." in category.content.decode()
