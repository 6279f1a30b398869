import json

import pytest

CREATE = "/crm/v3/objects/line_items/batch/create"
PORTAL = 1234567


def _checks(*problems: tuple[str, str, str]) -> str:
    """The "Property values were not valid" message for (code, message, name) problems."""
    checks = [
        {
            "isValid": False,
            "message": m,
            "error": c,
            "name": n,
            "localizedErrorMessage": m,
            "portalId": PORTAL,
        }
        for c, m, n in problems
    ]
    return "Property values were not valid: " + json.dumps(
        checks, separators=(",", ":")
    )


def _details(*problems: tuple[str, str, str]) -> list[dict]:
    return [
        {"message": m, "code": c, "context": {"propertyName": [n]}}
        for c, m, n in problems
    ]


def test_it_rejects_the_whole_batch_for_an_unknown_property(sandbox_api, sandbox):
    inputs = [
        {"properties": {"name": "good"}},
        {"properties": {"name": "bad", "testproperty": "x"}},
    ]

    response = sandbox_api.post(CREATE, {"inputs": inputs})

    problem = (
        "PROPERTY_DOESNT_EXIST",
        'Property "testproperty" does not exist',
        "testproperty",
    )
    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "message": _checks(problem),
        "correlationId": response.headers["X-HubSpot-Correlation-Id"],
        "errors": _details(problem),
        "category": "VALIDATION_ERROR",
    }
    assert sandbox.store.count("line_items") == 0


def test_it_answers_207_per_input_when_every_input_is_traced(sandbox_api, sandbox):
    inputs = [
        {"objectWriteTraceId": "t1", "properties": {"name": "good"}},
        {
            "objectWriteTraceId": "t2",
            "properties": {"name": "bad", "testproperty": "x"},
        },
    ]

    response = sandbox_api.post(CREATE, {"inputs": inputs})

    problem = (
        "PROPERTY_DOESNT_EXIST",
        'Property "testproperty" does not exist',
        "testproperty",
    )
    assert response.status_code == 207
    body = response.json()
    assert [r["properties"]["name"] for r in body["results"]] == ["good"]
    assert body["numErrors"] == 1
    assert body["errors"] == [
        {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": _checks(problem),
            "context": {"objectWriteTraceId": ["t2"]},
            "errors": _details(problem),
            "links": {},
        }
    ]
    assert [r.properties["name"] for r in sandbox.store.all("line_items")] == ["good"]


def test_it_rejects_the_whole_batch_when_only_some_inputs_are_traced(
    sandbox_api, sandbox
):
    inputs = [
        {"objectWriteTraceId": "t1", "properties": {"name": "good"}},
        {"properties": {"price": "abc"}},
    ]

    response = sandbox_api.post(CREATE, {"inputs": inputs})

    assert response.status_code == 400
    assert sandbox.store.count("line_items") == 0


@pytest.mark.parametrize(
    ("properties", "problem"),
    [
        (
            {"quantity": "two"},
            ("INVALID_INTEGER", "two was not a valid number.", "quantity"),
        ),
        (
            {"price": "-1.50"},
            ("NEGATIVE_VALUE", "price must not be negative, got -1.50.", "price"),
        ),
        (
            {"hs_object_id": "1"},
            (
                "READ_ONLY_VALUE",
                '"hs_object_id" is a read only property; its value cannot be set.',
                "hs_object_id",
            ),
        ),
    ],
)
def test_it_rejects_invalid_line_item_values(sandbox_api, sandbox, properties, problem):
    response = sandbox_api.post(CREATE, {"inputs": [{"properties": properties}]})

    assert response.status_code == 400
    assert response.json()["message"] == _checks(problem)
    assert response.json()["errors"] == _details(problem)
    assert sandbox.store.count("line_items") == 0


def test_it_rejects_a_deal_stage_that_is_not_an_option(sandbox_api):
    response = sandbox_api.post(
        "/crm/v3/objects/deals/batch/create",
        {"inputs": [{"properties": {"dealstage": "won"}}]},
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "message": "won was not one of the allowed options: [appointmentscheduled, qualifiedtobuy, presentationscheduled, decisionmakerboughtin, contractsent, closedwon, closedlost]",
            "code": "INVALID_OPTION",
            "context": {"propertyName": ["dealstage"]},
        }
    ]


def test_it_accepts_a_datetime_as_epoch_milliseconds_and_answers_iso(
    sandbox_api, sandbox
):
    deal_id = sandbox_api.create_deal(closedate="1575737406678")

    assert (
        sandbox.store.get("deals", deal_id).properties["closedate"]
        == "2019-12-07T16:50:06.678Z"
    )


def test_it_refuses_a_date_property_not_at_midnight_utc(sandbox_api, sandbox):
    sandbox_api.post(
        "/crm/v3/properties/deals",
        {
            "name": "ship_date",
            "label": "Ship date",
            "type": "date",
            "fieldType": "date",
            "groupName": "dealinformation",
        },
    )

    late = sandbox_api.post(
        "/crm/v3/objects/deals/batch/create",
        {"inputs": [{"properties": {"ship_date": "1570248633600"}}]},
    )
    midnight = sandbox_api.create_deal(ship_date="1570233600000")

    assert late.status_code == 400
    assert late.json()["errors"][0] == {
        "message": "1570248633600 is at 4:10:33.600 UTC, not midnight!",
        "code": "INVALID_DATE",
        "context": {"propertyName": ["ship_date"]},
    }
    assert sandbox.store.get("deals", midnight).properties["ship_date"] == "2019-10-05"


def test_it_rejects_an_update_with_a_bad_value_as_a_whole(keyed_api, sandbox):
    ids = keyed_api.create_line_items({"name": "a"}, {"name": "b"})
    inputs = [
        {"id": ids[0], "properties": {"name": "changed"}},
        {"id": ids[1], "properties": {"price": "-3"}},
    ]

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/update", {"inputs": inputs}
    )

    assert response.status_code == 400
    assert sandbox.store.get("line_items", ids[0]).properties["name"] == "a"


def test_it_refuses_a_second_record_with_one_unique_value(keyed_api, sandbox):
    (first,) = keyed_api.create_line_items({"tally_line_key": "L1"})

    response = keyed_api.post(
        CREATE, {"inputs": [{"properties": {"tally_line_key": "L1", "name": "dup"}}]}
    )

    message = (
        f'Property "tally_line_key" already has that value "L1". Existing ID: {first}'
    )
    assert response.status_code == 409
    assert response.json() == {
        "status": "error",
        "message": message,
        "correlationId": response.headers["X-HubSpot-Correlation-Id"],
        "errors": [
            {
                "message": message,
                "code": "DUPLICATE_UNIQUE_PROPERTY_VALUE",
                "context": {"propertyName": ["tally_line_key"]},
            }
        ],
        "category": "CONFLICT",
    }
    assert [
        r.id
        for r in sandbox.store.find_by_property("line_items", "tally_line_key", "L1")
    ] == [first]


def test_it_refuses_one_unique_value_twice_in_one_batch(keyed_api, sandbox):
    inputs = [
        {"properties": {"tally_line_key": "L1"}},
        {"properties": {"tally_line_key": "L1"}},
    ]

    response = keyed_api.post(CREATE, {"inputs": inputs})

    assert response.status_code == 409
    assert sandbox.store.count("line_items") == 0


def test_it_refuses_an_update_that_copies_another_records_unique_value(
    keyed_api, sandbox
):
    first, second = keyed_api.create_line_items(
        {"tally_line_key": "L1"}, {"tally_line_key": "L2"}
    )

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/update",
        {"inputs": [{"id": second, "properties": {"tally_line_key": "L1"}}]},
    )

    assert response.status_code == 409
    assert (
        len(sandbox.store.find_by_property("line_items", "tally_line_key", "L1")) == 1
    )


def test_it_lists_a_traced_unique_conflict_as_an_error_item(keyed_api, sandbox):
    keyed_api.create_line_items({"tally_line_key": "L1"})
    inputs = [
        {"objectWriteTraceId": "t1", "properties": {"tally_line_key": "L1"}},
        {"objectWriteTraceId": "t2", "properties": {"tally_line_key": "L2"}},
    ]

    response = keyed_api.post(CREATE, {"inputs": inputs})

    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert (error["category"], error["context"]) == (
        "CONFLICT",
        {"objectWriteTraceId": ["t1"]},
    )
    assert sandbox.store.count("line_items") == 2


def test_it_refuses_to_upsert_by_a_property_without_unique_values(keyed_api):
    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/upsert",
        {
            "inputs": [
                {"id": "W-1", "idProperty": "hs_sku", "properties": {"name": "x"}}
            ]
        },
    )

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "message": "Unable to perform update/upsert by non-unique 0-8 property hs_sku in portal ID 1234567",
        "correlationId": response.headers["X-HubSpot-Correlation-Id"],
        "category": "VALIDATION_ERROR",
    }
