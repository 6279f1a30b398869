"""The sandbox's imports API: shapes, states, row errors, paging, cancel."""

import json

import pytest

from hubspot_sync.sandbox import imports as sandbox_imports

KEY_FILE = "tally_line_key,name,quantity,price\n"


def post_import(api, text, name="lines.csv", operation="UPSERT", mappings=None):
    columns = text.splitlines()[0].split(",")
    mappings = mappings or [
        {"columnObjectTypeId": "0-8", "columnName": c, "propertyName": c}
        for c in columns
    ]
    mappings[0].setdefault("columnType", "HUBSPOT_ALTERNATE_ID")
    request = {
        "name": "test import",
        "importOperations": {"0-8": operation},
        "files": [
            {
                "fileName": name,
                "fileFormat": "CSV",
                "fileImportPage": {"hasHeader": True, "columnMappings": mappings},
            }
        ],
    }
    return api.session.post(
        api.url + "/crm/v3/imports",
        files=[
            ("importRequest", (None, json.dumps(request), "application/json")),
            ("files", (name, text.encode(), "text/csv")),
        ],
        timeout=10,
    )


@pytest.fixture
def imports_api(keyed_api, sandbox, frozen_clock):
    sandbox_imports.configure(sandbox.store, 8)
    return keyed_api


def state(api, import_id):
    return api.get(f"/crm/v3/imports/{import_id}").json()["state"]


def test_it_answers_at_once_with_a_started_import(imports_api):
    response = post_import(imports_api, KEY_FILE + "L-1,Mug,2,3.5\n")

    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "STARTED" and body["id"].isdigit()
    assert set(body) >= {
        "id",
        "state",
        "createdAt",
        "updatedAt",
        "mappedObjectTypeIds",
        "metadata",
        "optOutImport",
    }
    assert body["mappedObjectTypeIds"] == ["0-8"]
    assert body["metadata"]["counters"] == {} and body["importSource"] == "API"


def test_it_moves_through_processing_to_done_and_writes_rows(imports_api, frozen_clock):
    import_id = post_import(imports_api, KEY_FILE + "L-1,Mug,2,3.5\n").json()["id"]
    frozen_clock.advance(2)
    assert state(imports_api, import_id) == "PROCESSING"
    frozen_clock.advance(8)

    body = imports_api.get(f"/crm/v3/imports/{import_id}").json()

    assert body["state"] == "DONE"
    assert body["metadata"]["counters"]["TOTAL_ROWS"] == 1
    assert body["metadata"]["counters"]["CREATED_OBJECTS"] == 1
    read = imports_api.post(
        "/crm/v3/objects/line_items/batch/read",
        {
            "idProperty": "tally_line_key",
            "properties": ["quantity", "name"],
            "inputs": [{"id": "L-1"}],
        },
    )
    assert read.json()["results"][0]["properties"]["quantity"] == "2"


def test_a_second_import_updates_by_the_key_column(imports_api, frozen_clock):
    post_import(imports_api, KEY_FILE + "L-1,Mug,2,3.5\n")
    frozen_clock.advance(10)
    second = post_import(imports_api, KEY_FILE + "L-1,Mug,5,3.5\n").json()["id"]
    frozen_clock.advance(10)

    counters = imports_api.get(f"/crm/v3/imports/{second}").json()["metadata"]
    assert counters["counters"]["UPDATED_OBJECTS"] == 1
    listed = imports_api.get("/crm/v3/objects/line_items?properties=quantity")
    assert [r["properties"]["quantity"] for r in listed.json()["results"]] == ["5"]


def test_it_lists_row_errors_with_paging(imports_api, frozen_clock):
    rows = [
        "L-1,Mug,two,3.5",  # bad number
        "L-2,Mug,1",  # too few columns
        "L-3,Mug,1,1",
        "L-3,Mug,2,2",  # the key again
        "L-4,Mug,1,abc",
        "L-5,Mug,x,1",
    ]
    import_id = post_import(imports_api, KEY_FILE + "\n".join(rows)).json()["id"]
    frozen_clock.advance(10)

    first = imports_api.get(f"/crm/v3/imports/{import_id}/errors?limit=2").json()
    after = first["paging"]["next"]["after"]
    second = imports_api.get(
        f"/crm/v3/imports/{import_id}/errors?limit=2&after={after}"
    ).json()
    rest = imports_api.get(
        f"/crm/v3/imports/{import_id}/errors?limit=2&after="
        + second["paging"]["next"]["after"]
    ).json()

    errors = first["results"] + second["results"] + rest["results"]
    assert "paging" not in rest
    assert [(e["errorType"], e["sourceData"]["lineNumber"]) for e in errors] == [
        ("COULD_NOT_PARSE_NUMBER", 2),
        ("INCORRECT_NUMBER_OF_COLUMNS", 3),
        ("DUPLICATE_UNIQUE_PROPERTY_VALUE", 5),
        ("COULD_NOT_PARSE_NUMBER", 6),
        ("COULD_NOT_PARSE_NUMBER", 7),
    ]
    assert errors[0]["invalidValue"] == "two"
    assert errors[0]["sourceData"]["rowData"] == ["L-1", "Mug", "two", "3.5"]
    assert set(errors[0]) >= {"id", "createdAt", "errorType", "sourceData"}
    body = imports_api.get(f"/crm/v3/imports/{import_id}").json()
    assert body["state"] == "DONE"
    assert body["metadata"]["counters"]["ERRORS"] == 5


def test_an_invalid_option_is_an_enumeration_error(imports_api, frozen_clock):
    text = "tally_order_key,dealname,dealstage\nO-1,Order 1,no-such-stage\n"
    mappings = [
        {"columnObjectTypeId": "0-3", "columnName": c, "propertyName": c}
        for c in ("tally_order_key", "dealname", "dealstage")
    ]
    import_id = post_import(imports_api, text, mappings=mappings).json()["id"]
    frozen_clock.advance(10)

    (error,) = imports_api.get(f"/crm/v3/imports/{import_id}/errors").json()["results"]
    assert error["errorType"] == "INVALID_ENUMERATION_OPTION"
    assert error["objectTypeId"] == "0-3"


def test_a_create_of_an_existing_key_is_a_duplicate(imports_api, frozen_clock):
    post_import(imports_api, KEY_FILE + "L-1,Mug,2,3.5\n")
    frozen_clock.advance(10)
    import_id = post_import(
        imports_api, KEY_FILE + "L-1,Mug,2,3.5\n", operation="CREATE"
    ).json()["id"]
    frozen_clock.advance(10)

    errors = imports_api.get(f"/crm/v3/imports/{import_id}/errors").json()
    assert [e["errorType"] for e in errors["results"]] == [
        "DUPLICATE_UNIQUE_PROPERTY_VALUE"
    ]


def test_a_fourth_import_waits_deferred(imports_api, frozen_clock):
    ids = [
        post_import(imports_api, KEY_FILE + f"L-{n},Mug,1,1\n").json()["id"]
        for n in range(4)
    ]
    frozen_clock.advance(2)

    assert [state(imports_api, i) for i in ids] == ["PROCESSING"] * 3 + ["DEFERRED"]
    frozen_clock.advance(8)
    assert [state(imports_api, i) for i in ids] == ["DONE"] * 3 + ["PROCESSING"]
    frozen_clock.advance(8)
    assert state(imports_api, ids[3]) == "DONE"


def test_cancel_ends_an_import_and_frees_its_slot(imports_api, frozen_clock):
    ids = [
        post_import(imports_api, KEY_FILE + f"L-{n},Mug,1,1\n").json()["id"]
        for n in range(4)
    ]
    frozen_clock.advance(2)

    response = imports_api.post(f"/crm/v3/imports/{ids[0]}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "COMPLETE"
    assert set(response.json()) >= {"status", "startedAt", "completedAt"}
    assert [state(imports_api, i) for i in ids] == ["CANCELED"] + ["PROCESSING"] * 3
    frozen_clock.advance(10)
    assert imports_api.get("/crm/v3/objects/line_items").json()["results"][0]
    again = imports_api.post(f"/crm/v3/imports/{ids[0]}/cancel")
    assert again.status_code == 400


def test_a_request_it_cannot_carry_out_fails(imports_api, frozen_clock):
    mappings = [
        {"columnObjectTypeId": "0-8", "columnName": "tally_line_key"},
        {"columnObjectTypeId": "0-8", "columnName": "name", "propertyName": "nope"},
    ]
    mappings[0]["propertyName"] = "tally_line_key"
    text = "tally_line_key,name\nL-1,Mug\n"
    import_id = post_import(imports_api, text, mappings=mappings).json()["id"]
    frozen_clock.advance(10)

    assert state(imports_api, import_id) == "FAILED"
    (error,) = imports_api.get(f"/crm/v3/imports/{import_id}/errors").json()["results"]
    assert "nope" in error["errorMessage"]


def test_it_refuses_a_malformed_request(imports_api):
    not_multipart = imports_api.post("/crm/v3/imports", {"files": []})
    no_file = imports_api.session.post(
        imports_api.url + "/crm/v3/imports",
        files=[("importRequest", (None, "{}", "application/json"))],
        timeout=10,
    )
    misnamed = post_import(imports_api, KEY_FILE, name="a.csv")
    misnamed_request = json.loads(misnamed.request.body.split(b"\r\n")[4])

    assert not_multipart.status_code == 400
    assert no_file.status_code == 400
    assert misnamed.status_code == 200 and misnamed_request["files"]
    assert imports_api.get("/crm/v3/imports/999").status_code == 404


def test_it_lists_imports_with_paging(imports_api):
    ids = [post_import(imports_api, KEY_FILE).json()["id"] for _ in range(3)]

    first = imports_api.get("/crm/v3/imports?limit=2").json()
    after = first["paging"]["next"]["after"]
    rest = imports_api.get(f"/crm/v3/imports?limit=2&after={after}").json()

    assert [i["id"] for i in first["results"] + rest["results"]] == ids


def test_the_processing_time_is_set_over_http(sandbox_api, sandbox):
    response = sandbox_api.post("/_sandbox/imports", {"processing_seconds": 0.5})

    assert response.status_code == 200
    assert sandbox_imports.processing_ms(sandbox.store) == 500
    assert (
        sandbox_api.post("/_sandbox/imports", {"processing_seconds": "x"}).status_code
        == 400
    )
