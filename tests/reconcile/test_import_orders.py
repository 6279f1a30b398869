"""The order importer: real rows from the bundled file for each of its quirks.

Rows are copied verbatim from data/online-retail-2010-12_2011-01.csv.gz; the
comment above each names its line there. Rows marked "made up" exist because
the real data never does that thing.
"""

import gzip
import io
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from hubspot_sync.models import Association, ItemState, ObjectType, SyncItem
from reconcile import importers, mapping, queries
from reconcile.models import LineItem, Order, Store

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "data" / "online-retail-2010-12_2011-01.csv.gz"
LONDON = ZoneInfo("Europe/London")
HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
)

# Lines 2-8: a sale to customer 17850.
SALE_536365 = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
    "536365,84406B,CREAM CUPID HEARTS COAT HANGER,8,2010-12-01 08:26:00,2.75,17850.0,United Kingdom",
    "536365,84029G,KNITTED UNION FLAG HOT WATER BOTTLE,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
    "536365,84029E,RED WOOLLY HOTTIE WHITE HEART.,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
    "536365,22752,SET 7 BABUSHKA NESTING BOXES,2,2010-12-01 08:26:00,7.65,17850.0,United Kingdom",
    "536365,21730,GLASS STAR FROSTED T-LIGHT HOLDER,6,2010-12-01 08:26:00,4.25,17850.0,United Kingdom",
]
# Lines 1443-1444: a two-line cancellation.
CREDIT_C536543 = [
    "C536543,22632,HAND WARMER RED RETROSPOT,-1,2010-12-01 14:30:00,2.1,17841.0,United Kingdom",
    "C536543,22355,CHARLOTTE BAG SUKI DESIGN,-2,2010-12-01 14:30:00,0.85,17841.0,United Kingdom",
]
# Line 2408: a stock write-off, no description, no customer, price 0.
WRITE_OFF_536589 = "536589,21777,,-10,2010-12-01 16:50:00,0.0,,United Kingdom"


def write_file(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text("".join(f"{line}\n" for line in [header, *rows]), "utf-8")
    return path


def run_import(path: Path, **options) -> str:
    out = io.StringIO()
    call_command(
        "import_orders", str(path), format="online-retail", stdout=out, **options
    )
    return out.getvalue()


def import_rows(tmp_path: Path, *rows: str) -> str:
    return run_import(write_file(tmp_path, *rows))


def refusal(path: Path) -> str:
    with pytest.raises(CommandError) as caught:
        run_import(path)
    return str(caught.value)


def snapshot() -> dict[str, list[dict]]:
    models = (Store, Order, LineItem, SyncItem)
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


def lines_of(number: str) -> list[LineItem]:
    return list(LineItem.objects.filter(order__number=number).order_by("position"))


def item_of(record: Order | LineItem) -> SyncItem:
    return SyncItem.objects.get(pk=record.sync_item_id)


# One invoice, one order; one row, one line.


def test_it_imports_a_sale_with_one_line_per_row(tmp_path):
    import_rows(tmp_path, *SALE_536365)

    store = Store.objects.get()
    assert (store.slug, store.name, store.currency) == (
        "online-retail",
        "Online Retail (UK gift-ware)",
        "GBP",
    )
    order = Order.objects.get()
    assert order.store == store
    assert order.number == "536365"
    assert order.kind == Order.Kind.SALE
    assert order.customer_id == "17850"
    assert order.country == "United Kingdom"
    assert order.currency == "GBP"
    assert order.placed_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)

    lines = lines_of("536365")
    assert [line.position for line in lines] == [1, 2, 3, 4, 5, 6, 7]
    assert [line.source_row for line in lines] == [2, 3, 4, 5, 6, 7, 8]
    assert [line.sku for line in lines] == [
        "85123A",
        "71053",
        "84406B",
        "84029G",
        "84029E",
        "22752",
        "21730",
    ]
    assert lines[0].description == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert [line.quantity for line in lines] == [6, 6, 8, 6, 6, 2, 6]
    assert lines[5].unit_price == Decimal("7.65")
    assert {line.kind for line in lines} == {LineItem.Kind.PRODUCT}


def test_it_uses_the_store_options(tmp_path):
    path = write_file(tmp_path, *SALE_536365)
    run_import(path, store="uk-gifts", store_name="UK gifts")

    store = Store.objects.get()
    assert (store.slug, store.name) == ("uk-gifts", "UK gifts")
    assert Order.objects.get().store_key == "uk-gifts:536365"


def test_it_stages_every_order_and_line_for_sync(tmp_path):
    import_rows(tmp_path, *SALE_536365)

    order = Order.objects.get()
    deal = item_of(order)
    assert deal.key == "online-retail:536365"
    assert deal.state == ItemState.PENDING
    assert deal.properties["amount"] == "139.12"
    keys = [item_of(line).key for line in lines_of("536365")]
    assert keys == [f"online-retail:536365:{n}" for n in range(1, 8)]


def test_it_prints_a_summary(tmp_path):
    output = import_rows(tmp_path, *SALE_536365, *CREDIT_C536543, WRITE_OFF_536589)

    assert output.splitlines()[1:] == [
        "Orders: 3 created, 0 updated, 0 unchanged "
        "(in the file: credit notes 1, stock adjustments 1).",
        "Lines: 10 created, 0 updated, 0 deleted, 0 unchanged.",
        "Staged for sync: 13 items (13 new, 0 changed, 0 unchanged).",
    ]
    assert output.startswith("Imported ")
    assert "into store online-retail (Online Retail (UK gift-ware)): 10 rows." in output


def test_it_counts_one_row_in_the_singular(tmp_path):
    output = import_rows(tmp_path, SALE_536365[0])

    assert output.splitlines()[0].endswith("(Online Retail (UK gift-ware)): 1 row.")
    assert output.splitlines()[3] == (
        "Staged for sync: 2 items (2 new, 0 changed, 0 unchanged)."
    )


# The file's quirks.


def test_it_stores_a_c_invoice_as_a_credit_note_with_negative_quantities(tmp_path):
    import_rows(tmp_path, *CREDIT_C536543)

    order = Order.objects.get()
    assert order.number == "C536543"
    assert order.kind == Order.Kind.CREDIT_NOTE
    assert order.customer_id == "17841"
    assert [line.quantity for line in lines_of("C536543")] == [-1, -2]
    # mapping.py sends the returned quantity as a positive number.
    line_item = item_of(lines_of("C536543")[1])
    assert (line_item.properties["quantity"], line_item.properties["price"]) == (
        "2",
        "0.85",
    )
    deal = item_of(order)
    assert deal.properties["tally_order_kind"] == "credit_note"
    assert deal.properties["amount"] == "-3.8"  # the deal keeps the sign


def test_it_stores_a_discount_credit_note(tmp_path):
    # Line 143.
    import_rows(
        tmp_path,
        "C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom",
    )

    line = LineItem.objects.get()
    assert (line.order.kind, line.kind) == (Order.Kind.CREDIT_NOTE, "discount")
    assert (line.quantity, line.unit_price) == (-1, Decimal("27.5"))


def test_it_keeps_a_write_off_as_a_stock_adjustment_never_synced(tmp_path):
    import_rows(tmp_path, WRITE_OFF_536589)

    order = Order.objects.get()
    assert order.kind == Order.Kind.STOCK_ADJUSTMENT
    assert order.customer_id == ""
    line = LineItem.objects.get()
    assert (line.sku, line.description, line.quantity) == ("21777", "", -10)
    assert line.unit_price == Decimal("0")
    states = {item_of(order).state, item_of(line).state}
    assert states == {ItemState.EXCLUDED}
    assert item_of(order).reason_code == "STOCK_ADJUSTMENT"


def test_it_keeps_a_zero_price_and_syncs_it_as_0(tmp_path):
    # Lines 56675-56676: a free item for a known customer.
    import_rows(
        tmp_path,
        "541109,21781,MA CAMPAGNE CUTLERY BOX,1,2011-01-13 15:10:00,14.95,15107.0,United Kingdom",
        "541109,22168,ORGANISER WOOD ANTIQUE WHITE ,1,2011-01-13 15:10:00,0.0,15107.0,United Kingdom",
    )

    free = lines_of("541109")[1]
    assert free.unit_price == Decimal("0")
    assert item_of(free).properties["price"] == "0"
    assert item_of(free).state == ItemState.PENDING
    assert Order.objects.get().kind == Order.Kind.SALE


def test_it_imports_an_order_without_customer_as_a_guest_order(tmp_path):
    # Lines 2029-2030.
    import_rows(
        tmp_path,
        "536555,20697,LITTLE GREEN MONSTER SOFT TOY,1,2010-12-01 14:37:00,2.55,,United Kingdom",
        "536555,22716,CARD CIRCUS PARADE,1,2010-12-01 14:37:00,0.42,,United Kingdom",
    )

    order = Order.objects.get()
    assert (order.customer_id, order.kind) == ("", Order.Kind.SALE)
    assert item_of(order).properties["tally_customer_id"] == ""


def test_it_keeps_exact_duplicate_rows_as_separate_lines(tmp_path):
    # Lines 32582-32587: lines 32584 and 32587 are the same double scan.
    import_rows(
        tmp_path,
        "539092,84947,ANTIQUE SILVER TEA GLASS ENGRAVED,72,2010-12-16 10:08:00,1.06,15482.0,United Kingdom",
        "539092,84946,ANTIQUE SILVER TEA GLASS ETCHED,72,2010-12-16 10:08:00,1.06,15482.0,United Kingdom",
        "539092,22423,REGENCY CAKESTAND 3 TIER,16,2010-12-16 10:08:00,10.95,15482.0,United Kingdom",
        "539092,35001W,HAND OPEN SHAPE DECO.WHITE,6,2010-12-16 10:08:00,2.0,15482.0,United Kingdom",
        "539092,35001G,HAND OPEN SHAPE GOLD,6,2010-12-16 10:08:00,2.0,15482.0,United Kingdom",
        "539092,22423,REGENCY CAKESTAND 3 TIER,16,2010-12-16 10:08:00,10.95,15482.0,United Kingdom",
    )

    lines = lines_of("539092")
    assert len(lines) == 6
    assert [(line.position, line.sku, line.quantity) for line in lines[2::3]] == [
        (3, "22423", 16),
        (6, "22423", 16),
    ]
    # 2 * 72 * 1.06 + 2 * 16 * 10.95 + 2 * 6 * 2.0
    assert item_of(Order.objects.get()).properties["amount"] == "527.04"


@pytest.mark.parametrize(
    ("row", "kind"),
    [
        # Line 47.
        ("536370,POST,POSTAGE,3,2010-12-01 08:45:00,18.0,12583.0,France", "postage"),
        # Line 1816.
        (
            "536544,DOT,DOTCOM POSTAGE,1,2010-12-01 14:32:00,569.77,,United Kingdom",
            "postage",
        ),
        # Line 1425.
        ("536540,C2,CARRIAGE,1,2010-12-01 14:05:00,50.0,14911.0,EIRE", "postage"),
        # Line 15019.
        (
            "537632,AMAZONFEE,AMAZON FEE,1,2010-12-07 15:08:00,13541.33,,United Kingdom",
            "fee",
        ),
        # Line 4408.
        (
            "536779,BANK CHARGES,Bank Charges,1,2010-12-02 15:08:00,15.0,15823.0,United Kingdom",
            "fee",
        ),
        # Line 2241.
        ("536569,M,Manual,1,2010-12-01 15:35:00,1.25,16274.0,United Kingdom", "manual"),
        # Line 40385.
        ("539736,m,Manual,1,2010-12-21 15:18:00,2.55,,United Kingdom", "manual"),
        # Line 14438.
        ("C537581,S,SAMPLES,-1,2010-12-07 12:03:00,12.95,,United Kingdom", "sample"),
        # Line 38250.
        (
            "539492,gift_0001_40,Dotcomgiftshop Gift Voucher £40.00,1,2010-12-20 10:14:00,34.04,,United Kingdom",
            "voucher",
        ),
        # Line 21328.
        (
            "538071,DCGS0076,SUNJAR LED NIGHT NIGHT LIGHT,1,2010-12-09 14:09:00,16.13,,United Kingdom",
            "product",
        ),
    ],
)
def test_it_tells_fee_and_postage_lines_from_products(tmp_path, row, kind):
    import_rows(tmp_path, row)

    line = LineItem.objects.get()
    assert line.kind == kind
    assert item_of(line).properties["tally_line_kind"] == kind


def test_it_stores_the_voucher_sku_upper_case_and_keeps_the_pound_sign(tmp_path):
    # Line 38250.
    import_rows(
        tmp_path,
        "539492,gift_0001_40,Dotcomgiftshop Gift Voucher £40.00,1,2010-12-20 10:14:00,34.04,,United Kingdom",
    )

    line = LineItem.objects.get()
    assert (line.sku, line.description) == (
        "GIFT_0001_40",
        "Dotcomgiftshop Gift Voucher £40.00",
    )


def test_it_strips_descriptions_but_keeps_inner_spaces(tmp_path):
    # Line 42, then line 156.
    import_rows(
        tmp_path,
        "536370,22900, SET 2 TEA TOWELS I LOVE LONDON ,24,2010-12-01 08:45:00,2.95,12583.0,France",
        "C536383,35004C,SET OF 3 COLOURED  FLYING DUCKS,-1,2010-12-01 09:49:00,4.65,15311.0,United Kingdom",
    )

    assert lines_of("536370")[0].description == "SET 2 TEA TOWELS I LOVE LONDON"
    assert lines_of("C536383")[0].description == "SET OF 3 COLOURED  FLYING DUCKS"


def test_it_treats_lower_and_upper_case_skus_as_one(tmp_path):
    # Line 2, then line 6966.
    import_rows(
        tmp_path,
        SALE_536365[0],
        "536982,85123a,WHITE HANGING HEART T-LIGHT HOLDER,35,2010-12-03 14:27:00,6.77,,United Kingdom",
    )

    assert LineItem.objects.filter(sku="85123A").count() == 2
    assert not LineItem.objects.filter(sku="85123a").exists()


def test_it_dates_an_invoice_with_two_timestamps_by_the_earliest(tmp_path):
    # Lines 71891-71893: 12:35, then 12:36.
    import_rows(
        tmp_path,
        "542217,21326,AGED GLASS SILVER T-LIGHT HOLDER,12,2011-01-26 12:35:00,0.65,14606.0,United Kingdom",
        "542217,21617,4 LILY  BOTANICAL DINNER CANDLES,1,2011-01-26 12:36:00,3.75,14606.0,United Kingdom",
        "542217,22156,HEART DECORATION WITH PEARLS ,36,2011-01-26 12:36:00,0.85,14606.0,United Kingdom",
    )

    order = Order.objects.get()
    assert order.placed_at == datetime(2011, 1, 26, 12, 35, tzinfo=UTC)
    assert len(lines_of("542217")) == 3


def test_it_reads_the_date_as_uk_local_time(tmp_path):
    # Made up: the bundled months are all GMT; in July London is UTC+1.
    import_rows(
        tmp_path,
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2011-07-01 08:26:00,2.55,17850.0,United Kingdom",
    )

    placed_at = Order.objects.get().placed_at
    assert placed_at == datetime(2011, 7, 1, 7, 26, tzinfo=UTC)
    assert placed_at.astimezone(LONDON).hour == 8


def test_it_reads_quoted_commas_and_doubled_quotes(tmp_path):
    # Lines 255, 873, 1408 and 1811.
    import_rows(
        tmp_path,
        '536394,21506,"FANCY FONT BIRTHDAY CARD, ",24,2010-12-01 10:39:00,0.42,13408.0,United Kingdom',
        '536477,22041,"RECORD FRAME 7"" SINGLE SIZE ",48,2010-12-01 12:27:00,2.1,16210.0,United Kingdom',
        '536540,85071C,"CHARLIE+LOLA""EXTREMELY BUSY"" SIGN",6,2010-12-01 14:05:00,2.55,14911.0,EIRE',
        '536544,90214D,"LETTER ""D"" BLING KEY RING",1,2010-12-01 14:32:00,0.85,,United Kingdom',
    )

    descriptions = list(
        LineItem.objects.order_by("source_row").values_list("description", flat=True)
    )
    assert descriptions == [
        "FANCY FONT BIRTHDAY CARD,",
        'RECORD FRAME 7" SINGLE SIZE',
        'CHARLIE+LOLA"EXTREMELY BUSY" SIGN',
        'LETTER "D" BLING KEY RING',
    ]
    assert LineItem.objects.get(sku="21506").quantity == 24


def test_it_numbers_source_rows_by_file_line_across_quoted_newlines():
    # Made up: the real file has no newline inside a field.
    text = "\n".join(
        [
            HEADER,
            '536365,85123A,"WHITE HANGING\nHEART",6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom',
            "",
            SALE_536365[1],
            "",
        ]
    )
    rows = list(importers.parse_online_retail(io.BytesIO(text.encode())))

    assert [(row.line, row.description) for row in rows] == [
        (2, "WHITE HANGING\nHEART"),
        (5, "WHITE METAL LANTERN"),
    ]


def test_it_accepts_a_utf8_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + HEADER + "\n" + SALE_536365[0] + "\n").encode())
    run_import(path)

    assert LineItem.objects.get().source_row == 2


def test_it_reads_a_gzipped_file(tmp_path):
    path = tmp_path / "orders.csv.gz"
    text = "\n".join([HEADER, *SALE_536365]) + "\n"
    path.write_bytes(gzip.compress(text.encode()))
    run_import(path)

    assert LineItem.objects.count() == 7


def test_it_takes_country_and_customer_from_the_first_row(tmp_path):
    # Made up: no invoice in the real data does this.
    import_rows(
        tmp_path,
        SALE_536365[0],
        "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,12583.0,France",
    )

    order = Order.objects.get()
    assert (order.customer_id, order.country) == ("17850", "United Kingdom")


def test_it_accepts_the_first_and_last_dates_and_the_largest_price(tmp_path):
    # Made up. London kept summer time all year from 1968 to 1971.
    import_rows(
        tmp_path,
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,1970-01-01 00:00:00,2.55,17850.0,United Kingdom",
        "536366,22633,HAND WARMER UNION JACK,6,2100-12-31 23:59:59,99999999999.999,17850.0,United Kingdom",
    )

    first, last = Order.objects.order_by("number")
    assert item_of(first).properties["closedate"] == "1969-12-31T23:00:00.000Z"
    assert item_of(last).properties["closedate"] == "2100-12-31T23:59:59.000Z"
    assert LineItem.objects.get(sku="22633").unit_price == Decimal("99999999999.999")


def test_it_accepts_a_negative_price_as_it_is(tmp_path):
    # Made up, after the "Adjust bad debt" rows of August 2011.
    import_rows(
        tmp_path,
        "563185,B,Adjust bad debt,1,2011-08-12 14:50:00,-11062.06,,United Kingdom",
    )

    line = LineItem.objects.get()
    assert line.unit_price == Decimal("-11062.06")
    assert item_of(line).properties["price"] == "-11062.06"


# Re-importing.


@pytest.fixture
def imported(tmp_path) -> Path:
    path = write_file(tmp_path, *SALE_536365, *CREDIT_C536543, WRITE_OFF_536589)
    run_import(path)
    SyncItem.objects.exclude(state=ItemState.EXCLUDED).update(
        state=ItemState.VERIFIED, hubspot_id="1001"
    )
    return path


def test_it_changes_nothing_when_the_same_file_comes_again(imported):
    before = snapshot()
    output = run_import(imported)

    assert snapshot() == before
    assert output.splitlines()[1:] == [
        "Orders: 0 created, 0 updated, 3 unchanged "
        "(in the file: credit notes 1, stock adjustments 1).",
        "Lines: 0 created, 0 updated, 0 deleted, 10 unchanged.",
        "Staged for sync: 0 items (0 new, 0 changed, 0 unchanged).",
    ]


def test_it_updates_an_invoice_whose_rows_changed(imported, tmp_path):
    changed = SALE_536365[1].replace(",6,", ",12,")
    path = write_file(tmp_path, SALE_536365[0], changed, *SALE_536365[2:6])
    output = run_import(path)

    assert output.splitlines()[1:3] == [
        "Orders: 0 created, 1 updated, 0 unchanged "
        "(in the file: credit notes 0, stock adjustments 0).",
        "Lines: 0 created, 1 updated, 1 deleted, 5 unchanged.",
    ]
    lines = lines_of("536365")
    assert [line.quantity for line in lines] == [6, 12, 8, 6, 6, 2]
    assert item_of(lines[1]).state == ItemState.PENDING
    assert item_of(lines[1]).properties["quantity"] == "12"
    assert {item_of(line).state for line in lines[2:]} == {ItemState.VERIFIED}
    deal = item_of(Order.objects.get(number="536365"))
    assert (deal.state, deal.properties["amount"]) == (ItemState.PENDING, "133.96")


def test_it_leaves_orders_that_are_not_in_the_file_alone(imported, tmp_path):
    before = snapshot()
    run_import(write_file(tmp_path, *SALE_536365))

    assert snapshot() == before
    assert Order.objects.count() == 3


def test_it_reuses_the_sync_item_of_a_line_that_came_back(imported, tmp_path):
    seventh = SyncItem.objects.get(key="online-retail:536365:7")
    run_import(write_file(tmp_path, *SALE_536365[:6]))
    output = run_import(write_file(tmp_path, *SALE_536365))

    assert "Lines: 1 created, 0 updated, 0 deleted, 6 unchanged." in output
    assert lines_of("536365")[6].sync_item_id == seventh.pk
    assert SyncItem.objects.count() == 13


def test_it_keeps_the_item_of_a_removed_line_as_out_of_step(imported, tmp_path):
    SyncItem.objects.filter(object_type=ObjectType.LINE_ITEM).update(
        association=Association.LINKED
    )
    seventh = SyncItem.objects.get(key="online-retail:536365:7")
    run_import(write_file(tmp_path, *SALE_536365[:6]))

    item = SyncItem.objects.get(pk=seventh.pk)
    assert item.state == ItemState.EXCLUDED
    assert item.reason_code == "REMOVED_FROM_STORE"
    assert item.reason == "Removed from the order in the store; HubSpot still has it."
    assert item.next_step == (
        "Delete the line item in HubSpot (archive), or put the line back in the store."
    )
    assert item.state_changed > seventh.state_changed
    # HubSpot's line item and its link to the deal are still there.
    assert (item.hubspot_id, item.association) == ("1001", Association.LINKED)
    assert not LineItem.objects.filter(sync_item=item).exists()
    assert item.properties == seventh.properties
    assert SyncItem.objects.count() == 13


def test_it_says_when_a_removed_line_was_never_sent(tmp_path):
    run_import(write_file(tmp_path, *SALE_536365))
    run_import(write_file(tmp_path, *SALE_536365[:5]))

    removed = SyncItem.objects.filter(reason_code="REMOVED_FROM_STORE")
    assert sorted(removed.values_list("key", flat=True)) == [
        "online-retail:536365:6",
        "online-retail:536365:7",
    ]
    item = removed.first()
    assert (item.state, item.association) == (
        ItemState.EXCLUDED,
        Association.NOT_APPLICABLE,
    )
    assert item.reason == (
        "Removed from the order in the store before it was sent to HubSpot."
    )
    assert item.next_step == (
        "Nothing to do; it is sent if the line is put back in the store."
    )


def test_it_sends_a_removed_line_that_came_back_again(imported, tmp_path):
    SyncItem.objects.filter(object_type=ObjectType.LINE_ITEM).update(
        association=Association.LINKED
    )
    run_import(write_file(tmp_path, *SALE_536365[:6]))
    output = run_import(write_file(tmp_path, *SALE_536365))

    item = SyncItem.objects.get(key="online-retail:536365:7")
    assert lines_of("536365")[6].sync_item_id == item.pk
    assert (item.state, item.reason_code, item.reason, item.next_step) == (
        ItemState.PENDING,
        "",
        "",
        "",
    )
    assert (item.hubspot_id, item.association) == ("1001", Association.LINKED)
    assert item.fingerprint == item.properties["tally_fingerprint"]
    assert "(0 new, 2 changed, 6 unchanged)" in output


def test_it_keeps_a_write_off_line_that_came_back_excluded(tmp_path):
    # Made up: every write-off in the real data has one line.
    second = WRITE_OFF_536589.replace(",21777,", ",21778,")
    run_import(write_file(tmp_path, WRITE_OFF_536589, second))
    run_import(write_file(tmp_path, WRITE_OFF_536589))
    run_import(write_file(tmp_path, WRITE_OFF_536589, second))

    item = item_of(lines_of("536589")[1])
    assert (item.state, item.reason_code) == (ItemState.EXCLUDED, "STOCK_ADJUSTMENT")
    assert item.association == Association.NOT_APPLICABLE


def test_it_counts_the_items_of_removed_lines_in_the_status(imported, tmp_path):
    run_import(write_file(tmp_path, *SALE_536365[:6]))

    counts = queries.status_counts()
    assert counts["line_items"] == 9
    line_items = counts["items_by_state"]["line_items"]
    assert (line_items["verified"], line_items["excluded"]) == (8, 2)
    assert sum(line_items.values()) == 10


def test_it_leaves_the_dashboard_working_with_a_removed_line(
    imported, tmp_path, viewer_client
):
    run_import(write_file(tmp_path, *SALE_536365[:6]))
    order = Order.objects.get(number="536365")

    page = viewer_client.get(reverse("reconcile:order-detail", args=[order.pk]))
    items = viewer_client.get(reverse("reconcile:item-list"), {"state": "excluded"})

    assert page.status_code == 200
    assert items.status_code == 200
    assert "online-retail:536365:7" in items.text


def test_it_imports_again_after_the_store_was_deleted(imported, caplog):
    items = dict(SyncItem.objects.values_list("key", "pk"))
    Store.objects.all().delete()
    run_import(imported)

    records = [*Order.objects.all(), *LineItem.objects.all()]
    assert len(records) == 13
    assert {record.store_key: record.sync_item_id for record in records} == items
    assert SyncItem.objects.count() == 13
    assert "online-retail: reused 13 sync items" in caplog.text


# Refused files: the message names line, column and reason; nothing changes.

BAD_FILES = [
    pytest.param(
        HEADER.replace(",Quantity", ""),
        [SALE_536365[0].replace(",6,", ",")],
        ["line 1: missing columns: Quantity"],
        id="missing column",
    ),
    pytest.param(
        HEADER.replace("Quantity", "Qty"),
        [SALE_536365[0]],
        ["line 1: missing columns: Quantity", "line 1: unexpected columns: 'Qty'"],
        id="renamed column",
    ),
    pytest.param(
        HEADER + ",Notes",
        [SALE_536365[0] + ","],
        ["line 1: unexpected columns: 'Notes'"],
        id="extra column",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0], SALE_536365[1] + ",extra"],
        ["line 3: expected 8 fields, found 9"],
        id="extra field",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0], SALE_536365[1].replace(",6,", ",abc,")],
        ["line 3, column Quantity: 'abc' is not a whole number"],
        id="quantity not a number",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace(",6,", ",6.5,")],
        ["line 2, column Quantity: '6.5' is not a whole number"],
        id="quantity not whole",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace(",6,", ",0,")],
        ["line 2, column Quantity: '0' is zero; a line needs a quantity"],
        id="quantity zero",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace(",2.55,", ",2.5x,")],
        ["line 2, column UnitPrice: '2.5x' is not a price like 2.55"],
        id="price not a number",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace(",2.55,", ",2.5555,")],
        ["line 2, column UnitPrice: '2.5555' has more than 3 decimal places"],
        id="price too precise",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace("2010-12-01 08:26:00", "12/1/2010 8:26")],
        [
            "line 2, column InvoiceDate: '12/1/2010 8:26' is not a date and time like 2010-12-01 08:26:00"
        ],
        id="date in another format",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace("2010-12-01", "2010-02-30")],
        [
            "line 2, column InvoiceDate: '2010-02-30 08:26:00' is not a date and time like 2010-12-01 08:26:00"
        ],
        id="date that does not exist",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace("2010-12-01 08:26:00", "0001-01-01 00:00:00")],
        [
            "line 2, column InvoiceDate: '0001-01-01 00:00:00' is not between 1970-01-01 and 2100-12-31"
        ],
        id="date in year 1",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace("2010-12-01 08:26:00", "9999-12-31 23:59:59")],
        [
            "line 2, column InvoiceDate: '9999-12-31 23:59:59' is not between 1970-01-01 and 2100-12-31"
        ],
        id="date in year 9999",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace("2010-12-01 08:26:00", "1969-12-31 23:59:59")],
        [
            "line 2, column InvoiceDate: '1969-12-31 23:59:59' is not between 1970-01-01 and 2100-12-31"
        ],
        id="date before 1970",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace("2010-12-01 08:26:00", "2101-01-01 00:00:00")],
        [
            "line 2, column InvoiceDate: '2101-01-01 00:00:00' is not between 1970-01-01 and 2100-12-31"
        ],
        id="date after 2100",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace(",2.55,", ",99999999999999,")],
        [
            "line 2, column UnitPrice: '99999999999999' is too large (at most 11 digits before the decimal point)"
        ],
        id="price too large",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace("17850.0", "17850.5")],
        ["line 2, column CustomerID: '17850.5' is not a whole customer number"],
        id="customer not whole",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace("536365,", ",", 1)],
        ["line 2, column InvoiceNo: is empty"],
        id="invoice empty",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace("536365,", "53-6365,", 1)],
        [
            "line 2, column InvoiceNo: '53-6365' is not an invoice number (digits, C prefix)"
        ],
        id="invoice shape",
    ),
    pytest.param(
        HEADER,
        ["A563186,B,Adjust bad debt,1,2011-08-12 14:50:00,-11062.06,,United Kingdom"],
        ["line 2, column InvoiceNo: 'A563186' has an unknown invoice prefix 'A'"],
        id="invoice prefix",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace(",85123A,", ", ,")],
        ["line 2, column StockCode: is empty"],
        id="stock code empty",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0], SALE_536365[1].replace(",6,", ",-6,")],
        [
            "line 3, column Quantity: invoice 536365 mixes positive and negative quantities"
        ],
        id="mixed signs",
    ),
    pytest.param(
        HEADER,
        [CREDIT_C536543[0].replace(",-1,", ",1,")],
        ["line 2, column Quantity: credit note C536543 has positive quantities"],
        id="positive credit note",
    ),
    pytest.param(
        HEADER,
        [SALE_536365[0].replace(",6,", ",abc,").replace("17850.0", "x")],
        [
            "line 2, column Quantity: 'abc' is not a whole number",
            "line 2, column CustomerID: 'x' is not a whole customer number",
        ],
        id="two problems on one row",
    ),
    pytest.param(
        HEADER,
        [],
        ["the file has a header row but no orders"],
        id="header only",
    ),
]


@pytest.mark.parametrize(("header", "rows", "problems"), BAD_FILES)
def test_it_refuses_a_bad_file_and_changes_nothing(
    imported, tmp_path, header, rows, problems
):
    before = snapshot()
    message = refusal(write_file(tmp_path, *rows, header=header))

    assert message.splitlines()[1:] == problems
    assert message.startswith(f"{tmp_path / 'orders.csv'} was refused")
    assert snapshot() == before


def test_it_refuses_a_bad_file_into_an_empty_database(tmp_path):
    rows = [*SALE_536365, CREDIT_C536543[0].replace("17841.0", "17841.5")]
    message = refusal(write_file(tmp_path, *rows))

    assert message.splitlines()[-1] == (
        "line 9, column CustomerID: '17841.5' is not a whole customer number"
    )
    assert snapshot() == {"Store": [], "Order": [], "LineItem": [], "SyncItem": []}


def _refuse_bytes(tmp_path: Path, data: bytes, name: str = "orders.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    before = snapshot()
    message = refusal(path)
    assert snapshot() == before
    return message.splitlines()[1]


def test_it_refuses_bytes_that_are_not_utf8(imported, tmp_path):
    row = SALE_536365[1].encode().replace(b"WHITE", b"\xa3WHITE")
    data = f"{HEADER}\n{SALE_536365[0]}\n".encode() + row + b"\n"

    problem = _refuse_bytes(tmp_path, data)
    assert problem == "line 3, column Description: byte 14 (b'\\xa3') is not UTF-8 text"


def test_it_refuses_an_empty_file(imported, tmp_path):
    problem = _refuse_bytes(tmp_path, b"")
    assert problem == "the file is empty (expected a header row)"


def test_it_refuses_a_binary_file(imported, tmp_path):
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    problem = _refuse_bytes(tmp_path, data)
    assert problem == (
        "line 1: not a CSV file in the online-retail format "
        "(byte 1 (b'\\x89') is not UTF-8 text)"
    )


def test_it_refuses_a_binary_file_that_trips_the_csv_reader(imported, tmp_path):
    # The start of an .xlsx file (a zip archive), saved under a .csv name.
    data = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xee\x9d\r\x01\x00\x00\n"
    problem = _refuse_bytes(tmp_path, data)
    assert problem == (
        "line 1: not a CSV file in the online-retail format "
        "(byte 15 (b'\\xee') is not UTF-8 text)"
    )


def test_it_refuses_a_file_with_old_mac_line_ends(imported, tmp_path):
    data = "\r".join([HEADER, *SALE_536365]).encode() + b"\r"
    problem = _refuse_bytes(tmp_path, data)
    assert problem == (
        "line 1: not a CSV file in the online-retail format (a carriage return "
        "(CR) without a line feed: old Mac line ends, or not a text file)"
    )


def test_it_names_the_column_of_an_oversized_field(imported, tmp_path):
    row = SALE_536365[1].replace("WHITE METAL LANTERN", "LANTERN " * 25_000)
    problem = _refuse_bytes(tmp_path, f"{HEADER}\n{row}\n".encode())
    assert problem == (
        "line 2, column Description: 'LANTERN LANTERN LANTERN LANTERN LANTERN …' "
        "is longer than 300 characters"
    )


def test_it_refuses_an_oversized_field_it_cannot_place(imported, tmp_path):
    row = SALE_536365[1].replace("WHITE METAL LANTERN", '"' + "L," * 70_000 + '"')
    data = f"{HEADER}\n{SALE_536365[0]}\n{row}\n".encode()
    problem = _refuse_bytes(tmp_path, data)
    assert (
        problem
        == "line 3: not readable as CSV (a field is longer than 131,072 characters)"
    )


def test_it_names_the_column_of_a_nul_byte(imported, tmp_path):
    row = SALE_536365[1].replace("17850.0", "17850\x00")
    problem = _refuse_bytes(tmp_path, f"{HEADER}\n{row}\n".encode())
    assert problem == "line 2, column CustomerID: contains a NUL byte"


def test_it_refuses_a_broken_gzip_file(imported, tmp_path):
    whole = gzip.compress("\n".join([HEADER, *SALE_536365]).encode())
    problem = _refuse_bytes(tmp_path, whole[:30], "orders.csv.gz")
    assert problem == (
        "not a readable text or gzip file: Compressed file ended before the "
        "end-of-stream marker was reached"
    )


def test_it_lists_twenty_problems_then_counts_the_rest(imported, tmp_path):
    rows = [SALE_536365[0].replace(",6,", f",x{n},") for n in range(25)]
    message = refusal(write_file(tmp_path, *rows))

    lines = message.splitlines()
    assert lines[0].endswith("was refused, nothing was imported (25 problems):")
    assert lines[1] == "line 2, column Quantity: 'x0' is not a whole number"
    assert lines[20] == "line 21, column Quantity: 'x19' is not a whole number"
    assert lines[21:] == ["and 5 more"]


def test_it_refuses_an_unknown_format(tmp_path):
    path = write_file(tmp_path, *SALE_536365)
    with pytest.raises(CommandError) as caught:
        call_command("import_orders", str(path), format="shopify")

    assert str(caught.value) == (
        "Unknown format 'shopify'. Supported formats: online-retail"
    )


def test_it_refuses_a_store_option_that_is_not_a_slug(tmp_path):
    path = write_file(tmp_path, *SALE_536365)
    with pytest.raises(CommandError) as caught:
        run_import(path, store="UK gifts")

    assert str(caught.value) == "--store 'UK gifts' is not a slug"
    assert not Store.objects.exists()


def test_it_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError) as caught:
        run_import(tmp_path / "nope.csv")

    assert str(caught.value) == f"{tmp_path / 'nope.csv'}: no such file"


def test_it_refuses_a_directory(tmp_path):
    with pytest.raises(CommandError) as caught:
        run_import(tmp_path)

    assert str(caught.value) == f"{tmp_path}: is a directory"


@pytest.mark.parametrize("name", ["fifo", "/dev/null"])
def test_it_refuses_what_is_not_a_regular_file(tmp_path, name):
    path = tmp_path / name
    if name == "fifo":
        os.mkfifo(path)
    with pytest.raises(CommandError) as caught:
        run_import(path)

    assert str(caught.value) == f"{path}: is not a regular file"


# Interrupted.


def test_it_says_nothing_changed_when_interrupted(imported, tmp_path):
    # Ctrl-C while staging: a line deleted, an order created, both undone.
    before = snapshot()
    path = write_file(
        tmp_path, *SALE_536365[:6], WRITE_OFF_536589.replace("536589", "536590")
    )
    with (
        mock.patch.object(
            mapping, "stage", autospec=True, side_effect=KeyboardInterrupt
        ) as stage,
        pytest.raises(CommandError) as caught,
    ):
        try:
            run_import(path)
        except KeyboardInterrupt:
            pytest.fail("the interrupt escaped the command")  # and would stop pytest

    assert stage.called
    assert str(caught.value) == "Import interrupted; nothing was changed."
    assert caught.value.returncode == 130
    assert snapshot() == before


# The whole bundled file.


def test_it_imports_the_bundled_file_with_its_known_counts():
    output = run_import(BUNDLED)

    assert Order.objects.count() == 3501
    assert Order.objects.filter(kind=Order.Kind.SALE).count() == 2749
    assert Order.objects.filter(kind=Order.Kind.CREDIT_NOTE).count() == 586
    assert Order.objects.filter(kind=Order.Kind.STOCK_ADJUSTMENT).count() == 166
    assert Order.objects.filter(customer_id="").count() == 557
    assert LineItem.objects.count() == 77628
    amounts = LineItem.objects.values_list("quantity", "unit_price")
    assert sum(q * p for q, p in amounts) == Decimal("1308957.28")
    assert SyncItem.objects.count() == 3501 + 77628
    assert SyncItem.objects.filter(state=ItemState.EXCLUDED).count() == 166 * 2
    assert SyncItem.objects.filter(object_type=ObjectType.DEAL).count() == 3501
    assert "Lines: 77628 created, 0 updated, 0 deleted, 0 unchanged." in output


@pytest.mark.django_db(transaction=True)
def test_an_import_shows_on_the_overview_at_once(tmp_path):
    before = queries.dashboard_counts()["status"]["orders"]

    import_rows(tmp_path, *SALE_536365)

    assert queries.dashboard_counts()["status"]["orders"] == before + 1
