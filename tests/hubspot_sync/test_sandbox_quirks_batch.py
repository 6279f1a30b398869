"""Quirks that change what a batch answers: whole-batch rejection, silent skips of
unknown and merged-away IDs, empty association answers, and a portal without
unique line-item properties."""

import json

import pytest

from tests.hubspot_sync.conftest import SandboxAPI

PORTAL = 1234567
UPDATE = "/crm/v3/objects/line_items/batch/update"
NOT_FOUND = "Could not get some LINE_ITEM objects, they may be deleted or not exist. Check that ids are valid."


def _rejection(code: str, message: str, name: str, correlation_id: str) -> dict:
    check = {
        "isValid": False,
        "message": message,
        "error": code,
        "name": name,
        "localizedErrorMessage": message,
        "portalId": PORTAL,
    }
    return {
        "status": "error",
        "message": "Property values were not valid: "
        + json.dumps([check], separators=(",", ":")),
        "correlationId": correlation_id,
        "errors": [
            {"message": message, "code": code, "context": {"propertyName": [name]}}
        ],
        "category": "VALIDATION_ERROR",
    }


@pytest.fixture
def shop_api(keyed_api) -> SandboxAPI:
    """Tally's properties, plus a date and an enumeration on line items."""
    for definition in (
        {"name": "ship_date", "type": "date", "fieldType": "date"},
        {
            "name": "fulfilment",
            "type": "enumeration",
            "fieldType": "select",
            "options": [{"label": "Shipped", "value": "shipped"}],
        },
    ):
        body = {"label": definition["name"], "groupName": "lineiteminformation"}
        response = keyed_api.post(
            "/crm/v3/properties/line_items", {**body, **definition}
        )
        assert response.status_code == 201, response.text
    return keyed_api


BAD_VALUES = [
    pytest.param(
        {"quantity": "two"},
        ("INVALID_INTEGER", "two was not a valid number.", "quantity"),
        id="non-numeric-quantity",
    ),
    pytest.param(
        {"price": "-1"},
        ("NEGATIVE_VALUE", "price must not be negative, got -1.", "price"),
        id="negative-price",
    ),
    pytest.param(
        {"ship_date": "1570248633600"},
        (
            "INVALID_DATE",
            "1570248633600 is at 4:10:33.600 UTC, not midnight!",
            "ship_date",
        ),
        id="date-not-at-midnight",
    ),
    pytest.param(
        {"fulfilment": "lost"},
        (
            "INVALID_OPTION",
            "lost was not one of the allowed options: [shipped]",
            "fulfilment",
        ),
        id="unknown-option",
    ),
]


def _traced_batch(operation: str, ids: list[str], bad: dict) -> dict:
    """Two traced inputs, the second one bad, shaped for ``operation``."""
    good = {"name": "good"}
    if operation == "create":
        inputs = [{"properties": good}, {"properties": bad}]
    elif operation == "update":
        inputs = [{"id": ids[0], "properties": good}, {"id": ids[1], "properties": bad}]
    else:
        inputs = [
            {"id": "L1", "idProperty": "tally_line_key", "properties": good},
            {"id": "L2", "idProperty": "tally_line_key", "properties": bad},
        ]
    for position, item in enumerate(inputs):
        item["objectWriteTraceId"] = f"t{position}"
    return {"inputs": inputs}


@pytest.mark.parametrize("operation", ["create", "update", "upsert"])
@pytest.mark.parametrize(("bad", "problem"), BAD_VALUES)
def test_it_rejects_a_traced_batch_whole_with_reject_whole_batch(
    shop_api, sandbox, operation, bad, problem
):
    ids = shop_api.create_line_items(
        {"name": "a", "tally_line_key": "L1"}, {"name": "b", "tally_line_key": "L2"}
    )
    sandbox.configure(quirks={"reject_whole_batch": True})

    response = shop_api.post(
        f"/crm/v3/objects/line_items/batch/{operation}",
        _traced_batch(operation, ids, bad),
    )

    assert response.status_code == 400
    correlation_id = response.headers["X-HubSpot-Correlation-Id"]
    assert response.json() == _rejection(*problem, correlation_id)
    assert [r.properties.get("name") for r in sandbox.store.all("line_items")] == [
        "a",
        "b",
    ]


@pytest.mark.parametrize("operation", ["create", "update", "upsert"])
def test_it_answers_a_traced_batch_per_input_without_the_quirk(
    shop_api, sandbox, operation
):
    ids = shop_api.create_line_items(
        {"name": "a", "tally_line_key": "L1"}, {"name": "b", "tally_line_key": "L2"}
    )

    response = shop_api.post(
        f"/crm/v3/objects/line_items/batch/{operation}",
        _traced_batch(operation, ids, {"price": "-1"}),
    )

    assert response.status_code == 207
    body = response.json()
    assert [r["properties"]["name"] for r in body["results"]] == ["good"]
    (error,) = body["errors"]
    assert (error["category"], error["context"]) == (
        "VALIDATION_ERROR",
        {"objectWriteTraceId": ["t1"]},
    )


def test_it_names_only_the_first_bad_inputs_problems_in_a_whole_rejection(
    shop_api, sandbox
):
    sandbox.configure(quirks={"reject_whole_batch": True})
    inputs = [
        {"objectWriteTraceId": "t0", "properties": {"quantity": "x", "price": "-2"}},
        {"objectWriteTraceId": "t1", "properties": {"fulfilment": "lost"}},
    ]

    response = shop_api.post(
        "/crm/v3/objects/line_items/batch/create", {"inputs": inputs}
    )

    assert response.status_code == 400
    assert [(e["code"], e["context"]) for e in response.json()["errors"]] == [
        ("INVALID_INTEGER", {"propertyName": ["quantity"]}),
        ("NEGATIVE_VALUE", {"propertyName": ["price"]}),
    ]
    assert "t0" not in response.text and "t1" not in response.text


def test_it_rejects_a_traced_unique_conflict_whole_with_reject_whole_batch(
    keyed_api, sandbox
):
    (holder,) = keyed_api.create_line_items({"tally_line_key": "L1"})
    sandbox.configure(quirks={"reject_whole_batch": True})
    inputs = [
        {"objectWriteTraceId": "t0", "properties": {"tally_line_key": "L2"}},
        {"objectWriteTraceId": "t1", "properties": {"tally_line_key": "L1"}},
    ]

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/create", {"inputs": inputs}
    )

    assert response.status_code == 409
    assert response.json()["category"] == "CONFLICT"
    assert [r.id for r in sandbox.store.all("line_items")] == [holder]


def test_it_rejects_only_the_share_of_batches_its_rate_says(shop_api, sandbox):
    sandbox.configure(quirks={"reject_whole_batch": 0.5}, seed=3)
    bad = _traced_batch("create", [], {"price": "-1"})

    statuses = [
        shop_api.post("/crm/v3/objects/line_items/batch/create", bad).status_code
        for _ in range(20)
    ]

    assert set(statuses) == {207, 400}


# Silent skips


def _merged_and_unknown(api: SandboxAPI, traced: bool = False):
    primary, loser, other = api.create_line_items(
        {"name": "keep"}, {"name": "lose"}, {"name": "other"}
    )
    api.merge("line_items", primary, loser)
    inputs = [
        {"id": other, "properties": {"name": "changed"}},
        {"id": loser, "properties": {"name": "changed"}},
        {"id": "404404", "properties": {"name": "changed"}},
    ]
    if traced:
        for item in inputs:
            item["objectWriteTraceId"] = f"t-{item['id']}"
    return other, loser, api.post(UPDATE, {"inputs": inputs})


def test_silent_skip_update_leaves_merged_away_ids_out_of_a_200(keyed_api, sandbox):
    sandbox.configure(quirks={"silent_skip_update": True})

    other, _, response = _merged_and_unknown(keyed_api)

    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["results"]] == [other]
    assert "errors" not in body and "numErrors" not in body


def test_silent_skip_update_207_leaves_merged_away_ids_out_of_a_207(keyed_api, sandbox):
    sandbox.configure(quirks={"silent_skip_update_207": True})

    other, _, response = _merged_and_unknown(keyed_api)

    assert response.status_code == 207
    body = response.json()
    assert [r["id"] for r in body["results"]] == [other]
    assert (body["numErrors"], body["errors"]) == (0, [])


def test_silent_skip_merged_skips_merged_ids_but_reports_unknown_ones(
    keyed_api, sandbox
):
    sandbox.configure(quirks={"silent_skip_merged": True})

    other, _, response = _merged_and_unknown(keyed_api)

    assert response.status_code == 207
    body = response.json()
    assert [r["id"] for r in body["results"]] == [other]
    assert body["numErrors"] == 1
    assert body["errors"][0]["message"] == NOT_FOUND
    assert body["errors"][0]["context"] == {"ids": ["404404"]}


def test_silent_skip_merged_drops_a_traced_merged_inputs_own_item(keyed_api, sandbox):
    sandbox.configure(quirks={"silent_skip_merged": True})

    _, _, response = _merged_and_unknown(keyed_api, traced=True)

    assert response.status_code == 207
    assert [e["context"] for e in response.json()["errors"]] == [
        {"ids": ["404404"], "objectWriteTraceId": ["t-404404"]}
    ]


def test_silent_skip_merged_answers_200_when_only_merged_ids_were_skipped(
    keyed_api, sandbox
):
    sandbox.configure(quirks={"silent_skip_merged": True})
    primary, loser = keyed_api.create_line_items({"name": "keep"}, {"name": "lose"})
    keyed_api.merge("line_items", primary, loser)

    response = keyed_api.post(
        UPDATE, {"inputs": [{"id": loser, "properties": {"name": "x"}}]}
    )

    assert response.status_code == 200
    assert response.json()["results"] == []
    assert sandbox.store.get("line_items", primary).properties["name"] == "keep"


# Associations


def _associate(api: SandboxAPI, line_id: str, deal_id: str):
    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}
    body = {
        "inputs": [{"from": {"id": line_id}, "to": {"id": deal_id}, "types": [spec]}]
    }
    return api.post("/crm/v4/associations/line_items/deals/batch/create", body)


def test_association_empty_answers_complete_and_links_nothing(keyed_api, sandbox):
    sandbox.configure(quirks={"association_empty": True})
    deal_id = keyed_api.create_deal()
    (line_id,) = keyed_api.create_line_items({"name": "a"})

    response = _associate(keyed_api, line_id, deal_id)

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "status": "COMPLETE",
        "results": [],
        "startedAt": body["startedAt"],
        "completedAt": body["completedAt"],
    }
    assert sandbox.store.links_from([line_id], "deals") == {line_id: []}
    assert sandbox.store.links_from([deal_id], "line_items") == {deal_id: []}


def test_association_empty_still_refuses_a_malformed_body(sandbox_api, sandbox):
    sandbox.configure(quirks={"association_empty": True})

    response = sandbox_api.post(
        "/crm/v4/associations/line_items/deals/batch/create", {"inputs": [{}]}
    )

    assert response.status_code == 400


def test_association_empty_leaves_other_writes_alone(keyed_api, sandbox):
    sandbox.configure(quirks={"association_empty": True})

    deal_id = keyed_api.create_deal()

    assert sandbox.store.get("deals", deal_id) is not None


# A portal without unique line-item properties


def _unique_property(kind: str, name: str) -> dict:
    return {
        "name": name,
        "label": name,
        "type": "string",
        "fieldType": "text",
        "groupName": "lineiteminformation"
        if kind == "line_items"
        else "dealinformation",
        "hasUniqueValue": True,
    }


def test_no_unique_line_items_creates_the_property_without_unique_values(
    sandbox_api, sandbox
):
    sandbox.configure(quirks={"no_unique_line_items": True})

    created = sandbox_api.post(
        "/crm/v3/properties/line_items", _unique_property("line_items", "line_key")
    )
    read_back = sandbox_api.get("/crm/v3/properties/line_items/line_key")
    deal = sandbox_api.post(
        "/crm/v3/properties/deals", _unique_property("deals", "order_key")
    )

    assert created.status_code == 201
    assert created.json()["hasUniqueValue"] is False
    assert read_back.json()["hasUniqueValue"] is False
    assert deal.json()["hasUniqueValue"] is True


def test_no_unique_line_items_makes_an_upsert_by_that_property_fail(
    sandbox_api, sandbox
):
    sandbox.configure(quirks={"no_unique_line_items": True})
    sandbox_api.post(
        "/crm/v3/properties/line_items", _unique_property("line_items", "line_key")
    )

    response = sandbox_api.post(
        "/crm/v3/objects/line_items/batch/upsert",
        {"inputs": [{"id": "L1", "idProperty": "line_key", "properties": {}}]},
    )

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "message": "Unable to perform update/upsert by non-unique 0-8 property line_key in portal ID 1234567",
        "correlationId": response.headers["X-HubSpot-Correlation-Id"],
        "category": "VALIDATION_ERROR",
    }
    assert sandbox.store.count("line_items") == 0


def test_no_unique_line_items_takes_no_rate(sandbox):
    with pytest.raises(ValueError, match="on or off"):
        sandbox.configure(quirks={"no_unique_line_items": 0.5})
