import pytest

from hubspot_sync.properties import CUSTOM_PROPERTIES, differences, normalise


@pytest.mark.parametrize(
    ("name", "sent", "echoed"),
    [
        ("quantity", 2, "2"),
        ("price", "19.99", "19.990"),
        ("price", "0", "0.0"),
        ("amount", "1500.00", "1500"),
        ("closedate", "2010-12-01T08:26:00.000Z", "1291191960000"),
        ("closedate", "2010-12-01T08:26:00Z", "2010-12-01T08:26:00.000Z"),
        ("dealname", "Order 536365", "Order 536365"),
    ],
)
def test_it_treats_hubspot_string_forms_as_equal(name, sent, echoed):
    assert normalise(name, sent) == normalise(name, echoed)


def test_it_reports_each_differing_property_with_both_values():
    sent = {"price": "2.55", "quantity": "6", "name": "WHITE METAL LANTERN"}
    echoed = {"price": "2.5", "quantity": "6.0", "name": "WHITE METAL LANTERN "}

    assert differences(sent, echoed) == {
        "price": {"store": "2.55", "hubspot": "2.5"},
        "name": {"store": "WHITE METAL LANTERN", "hubspot": "WHITE METAL LANTERN "},
    }


def test_it_counts_a_missing_echo_as_a_difference():
    assert differences({"hs_sku": "85123A"}, {}) == {
        "hs_sku": {"store": "85123A", "hubspot": None}
    }


def test_it_declares_one_unique_store_key_per_object_type():
    unique = sorted((p.object_type, p.name) for p in CUSTOM_PROPERTIES if p.unique)
    assert unique == [("deals", "tally_order_key"), ("line_items", "tally_line_key")]
