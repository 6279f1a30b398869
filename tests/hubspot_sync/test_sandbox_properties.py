import pytest

from hubspot_sync.properties import CUSTOM_PROPERTIES


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "deals",
            {
                "dealname": "string",
                "amount": "number",
                "closedate": "datetime",
                "pipeline": "enumeration",
                "dealstage": "enumeration",
                "deal_currency_code": "string",
                "hs_object_id": "number",
                "createdate": "datetime",
                "hs_lastmodifieddate": "datetime",
                "hs_merged_object_ids": "enumeration",
            },
        ),
        (
            "line_items",
            {
                "name": "string",
                "description": "string",
                "hs_sku": "string",
                "quantity": "number",
                "price": "number",
                "amount": "number",
                "hs_position_on_quote": "number",
                "hs_line_item_currency_code": "string",
                "hs_object_id": "number",
                "createdate": "datetime",
                "hs_lastmodifieddate": "datetime",
                "hs_merged_object_ids": "enumeration",
            },
        ),
    ],
)
def test_it_starts_with_hubspots_standard_properties(sandbox_api, kind, expected):
    response = sandbox_api.get(f"/crm/v3/properties/{kind}")

    assert response.status_code == 200
    assert {p["name"]: p["type"] for p in response.json()["results"]} == expected


def test_it_offers_the_deal_stages(sandbox_api):
    response = sandbox_api.get("/crm/v3/properties/deals/dealstage")

    values = [option["value"] for option in response.json()["options"]]
    assert {"appointmentscheduled", "qualifiedtobuy", "closedwon", "closedlost"} <= set(
        values
    )


def test_it_marks_system_properties_read_only(sandbox_api):
    response = sandbox_api.get("/crm/v3/properties/line_items/hs_object_id")

    assert response.json()["modificationMetadata"]["readOnlyValue"] is True


def test_it_creates_tallys_custom_properties(sandbox_api):
    line_key = next(p for p in CUSTOM_PROPERTIES if p.name == "tally_line_key")

    response = sandbox_api.post("/crm/v3/properties/line_items", line_key.as_request())

    assert response.status_code == 201
    body = response.json()
    assert {
        k: body[k]
        for k in (
            "name",
            "label",
            "type",
            "fieldType",
            "groupName",
            "description",
            "hasUniqueValue",
        )
    } == {
        "name": "tally_line_key",
        "label": "Tally line key",
        "type": "string",
        "fieldType": "text",
        "groupName": "lineiteminformation",
        "description": "Written by Tally; do not edit by hand.",
        "hasUniqueValue": True,
    }
    assert sandbox_api.get("/crm/v3/properties/0-8/tally_line_key").json() == body


def test_it_answers_409_for_a_property_that_exists(keyed_api):
    response = keyed_api.post(
        "/crm/v3/properties/deals",
        {
            "name": "tally_order_key",
            "label": "x",
            "type": "string",
            "fieldType": "text",
            "groupName": "dealinformation",
        },
    )

    assert response.status_code == 409
    assert response.json()["category"] == "OBJECT_ALREADY_EXISTS"


def test_it_answers_404_for_an_unknown_property(sandbox_api):
    response = sandbox_api.get("/crm/v3/properties/deals/nothing_here")

    assert response.status_code == 404
    assert response.json()["message"] == 'Property "nothing_here" does not exist'


def test_it_refuses_a_property_without_required_fields(sandbox_api):
    response = sandbox_api.post("/crm/v3/properties/deals", {"name": "half"})

    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_it_wipes_custom_properties_on_reset(keyed_api, sandbox):
    sandbox.reset()

    assert (
        keyed_api.get("/crm/v3/properties/line_items/tally_line_key").status_code == 404
    )
