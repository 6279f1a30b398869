import re

import pytest

from hubspot_sync.sandbox.server import SandboxServer
from tests.hubspot_sync.conftest import SandboxAPI

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NOT_FOUND_LINE_ITEMS = "Could not get some LINE_ITEM objects, they may be deleted or not exist. Check that ids are valid."


def _line(key: str, **extra: str) -> dict:
    return {
        "name": f"Widget {key}",
        "quantity": "2",
        "price": "19.99",
        "tally_line_key": key,
        **extra,
    }


def test_it_creates_deals_with_system_properties_and_the_default_pipeline(
    sandbox, sandbox_api
):
    response = sandbox_api.post(
        "/crm/v3/objects/deals/batch/create",
        {
            "inputs": [
                {
                    "properties": {
                        "dealname": "Order 1001",
                        "amount": 39.98,
                        "dealstage": "closedwon",
                    }
                }
            ]
        },
    )

    assert response.status_code == 201
    body = response.json()
    (result,) = body["results"]
    deal_id = result["id"]
    assert deal_id.isdigit()
    assert body == {
        "status": "COMPLETE",
        "results": [
            {
                "id": deal_id,
                "properties": {
                    "dealname": "Order 1001",
                    "amount": "39.98",
                    "dealstage": "closedwon",
                    "pipeline": "default",
                    "hs_object_id": deal_id,
                    "createdate": result["createdAt"],
                    "hs_lastmodifieddate": result["createdAt"],
                },
                "createdAt": result["createdAt"],
                "updatedAt": result["createdAt"],
                "archived": False,
            }
        ],
        "startedAt": body["startedAt"],
        "completedAt": body["completedAt"],
    }
    assert all(ISO_MS.match(body[key]) for key in ("startedAt", "completedAt"))
    assert ISO_MS.match(result["createdAt"])
    assert sandbox.store.get("deals", deal_id).properties["dealname"] == "Order 1001"


def test_it_gives_increasing_numeric_ids_unique_across_object_types(sandbox_api):
    deal_id = sandbox_api.create_deal()
    line_ids = sandbox_api.create_line_items({"name": "a"}, {"name": "b"})

    assert [int(deal_id)] + [int(i) for i in line_ids] == sorted(
        {int(deal_id), *map(int, line_ids)}
    )


def test_it_computes_the_line_item_amount_from_quantity_and_price(keyed_api, sandbox):
    (line_id,) = keyed_api.create_line_items({"quantity": "3", "price": "19.990"})

    assert sandbox.store.get("line_items", line_id).properties["amount"] == "59.97"


def test_it_creates_line_items_associated_inline_with_a_deal(keyed_api, sandbox):
    deal_id = keyed_api.create_deal()
    body = {
        "inputs": [
            {
                "objectWriteTraceId": "line-1",
                "properties": _line("L1"),
                "associations": [
                    {
                        "to": {"id": deal_id},
                        "types": [
                            {
                                "associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": 20,
                            }
                        ],
                    }
                ],
            }
        ]
    }

    response = keyed_api.post("/crm/v3/objects/0-8/batch/create", body)

    assert response.status_code == 201
    line_id = response.json()["results"][0]["id"]
    to_deal = sandbox.store.links_from([line_id], "deals")[line_id]
    to_line = sandbox.store.links_from([deal_id], "line_items")[deal_id]
    assert [(link.to_id, link.type_id) for link in to_deal] == [(deal_id, 20)]
    assert [(link.to_id, link.type_id) for link in to_line] == [(line_id, 19)]


def test_it_refuses_an_inline_association_to_a_missing_deal(keyed_api, sandbox):
    association = {
        "to": {"id": "999"},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}],
    }

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/create",
        {"inputs": [{"properties": _line("L1"), "associations": [association]}]},
    )

    assert response.status_code == 400
    assert response.json()["message"] == "Cannot associate: DEAL 999 does not exist."
    assert sandbox.store.count("line_items") == 0


def test_it_reads_a_batch_with_the_requested_properties(keyed_api):
    ids = keyed_api.create_line_items(_line("L1"), _line("L2", hs_sku="W-2"))

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/read",
        {
            "inputs": [{"id": i} for i in ids],
            "properties": ["hs_sku", "tally_line_key", "unknown"],
        },
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == ids
    assert set(results[0]["properties"]) == {
        "hs_sku",
        "tally_line_key",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    }
    assert results[0]["properties"]["hs_sku"] is None
    assert results[1]["properties"]["hs_sku"] == "W-2"


def test_it_answers_a_batch_read_with_missing_ids_by_207_with_one_error(keyed_api):
    (found,) = keyed_api.create_line_items(_line("L1"))

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/read",
        {"inputs": [{"id": "1"}, {"id": found}, {"id": "2"}], "properties": ["name"]},
    )

    assert response.status_code == 207
    body = response.json()
    assert [r["id"] for r in body["results"]] == [found]
    assert body["numErrors"] == 1
    assert body["errors"] == [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": NOT_FOUND_LINE_ITEMS,
            "context": {"ids": ["1", "2"]},
            "errors": [],
            "links": {},
        }
    ]


def test_it_names_deals_in_the_batch_read_error(sandbox_api):
    response = sandbox_api.post(
        "/crm/v3/objects/0-3/batch/read", {"inputs": [{"id": "5"}], "properties": []}
    )

    assert response.status_code == 207
    assert response.json()["errors"][0]["message"] == (
        "Could not get some DEAL objects, they may be deleted or not exist. Check that ids are valid."
    )


def test_it_reads_by_a_unique_id_property(keyed_api):
    (line_id,) = keyed_api.create_line_items(_line("L1"))

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/read",
        {
            "inputs": [{"id": "L1"}, {"id": "L9"}],
            "idProperty": "tally_line_key",
            "properties": ["name"],
        },
    )

    assert response.status_code == 207
    assert [r["id"] for r in response.json()["results"]] == [line_id]
    assert response.json()["errors"][0]["context"] == {"ids": ["L9"]}


def test_it_updates_a_batch_and_echoes_what_was_written(keyed_api, sandbox):
    ids = keyed_api.create_line_items(_line("L1"), _line("L2"))

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/update",
        {
            "inputs": [
                {"id": ids[0], "properties": {"quantity": "5", "hs_sku": ""}},
                {"id": ids[1], "properties": {"name": "Renamed"}},
            ]
        },
    )

    assert response.status_code == 200
    results = response.json()["results"]
    stored = sandbox.store.get("line_items", ids[0])
    assert results[0]["properties"] == {
        "quantity": "5",
        "hs_sku": "",
        "amount": "99.95",
        "createdate": stored.properties["createdate"],
        "hs_lastmodifieddate": stored.properties["hs_lastmodifieddate"],
        "hs_object_id": ids[0],
    }
    assert stored.properties["quantity"] == "5"
    assert "hs_sku" not in stored.properties
    assert sandbox.store.get("line_items", ids[1]).properties["name"] == "Renamed"


def test_it_answers_an_update_of_unknown_ids_by_207_listing_them(keyed_api, sandbox):
    (line_id,) = keyed_api.create_line_items(_line("L1"))

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/update",
        {
            "inputs": [
                {"id": "77", "properties": {"name": "x"}},
                {"id": line_id, "properties": {"name": "y"}},
                {"id": "78", "properties": {}},
            ]
        },
    )

    assert response.status_code == 207
    body = response.json()
    assert [r["id"] for r in body["results"]] == [line_id]
    assert body["errors"] == [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": NOT_FOUND_LINE_ITEMS,
            "context": {"ids": ["77", "78"]},
            "errors": [],
            "links": {},
        }
    ]
    assert sandbox.store.get("line_items", line_id).properties["name"] == "y"


def test_it_names_each_traced_unknown_id_with_its_trace_id(keyed_api):
    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/update",
        {
            "inputs": [
                {"id": "77", "objectWriteTraceId": "t-77", "properties": {"name": "x"}}
            ]
        },
    )

    assert response.status_code == 207
    assert response.json()["errors"][0]["context"] == {
        "ids": ["77"],
        "objectWriteTraceId": ["t-77"],
    }


def test_it_updates_by_a_unique_id_property(keyed_api, sandbox):
    (line_id,) = keyed_api.create_line_items(_line("L1"))

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/update",
        {
            "inputs": [
                {
                    "id": "L1",
                    "idProperty": "tally_line_key",
                    "properties": {"name": "By key"},
                }
            ]
        },
    )

    assert response.status_code == 200
    assert response.json()["results"][0]["id"] == line_id
    assert sandbox.store.get("line_items", line_id).properties["name"] == "By key"


def test_it_upserts_by_creating_then_updating(keyed_api, sandbox):
    def upsert(name: str):
        return keyed_api.post(
            "/crm/v3/objects/line_items/batch/upsert",
            {
                "inputs": [
                    {
                        "id": "L1",
                        "idProperty": "tally_line_key",
                        "properties": {"name": name, "quantity": "1", "price": "4"},
                    }
                ]
            },
        )

    first, second = upsert("First"), upsert("Second")

    assert first.status_code == 200 and second.status_code == 200
    created, updated = first.json()["results"][0], second.json()["results"][0]
    assert created["new"] is True
    assert updated["new"] is False
    assert updated["id"] == created["id"]
    assert created["properties"]["tally_line_key"] == "L1"
    assert updated["properties"]["name"] == "Second"
    assert [
        r.id
        for r in sandbox.store.find_by_property("line_items", "tally_line_key", "L1")
    ] == [created["id"]]


def test_it_archives_a_batch_so_reads_no_longer_find_it(keyed_api, sandbox):
    ids = keyed_api.create_line_items(_line("L1"), _line("L2"))

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/archive",
        {"inputs": [{"id": ids[0]}, {"id": "404"}]},
    )

    assert response.status_code == 204
    assert response.content == b""
    assert sandbox.store.count("line_items") == 1
    assert sandbox.store.count("line_items", archived=True) == 1
    read = keyed_api.post(
        "/crm/v3/objects/line_items/batch/read",
        {"inputs": [{"id": ids[0]}], "properties": []},
    )
    assert read.status_code == 207
    archived = keyed_api.post(
        "/crm/v3/objects/line_items/batch/read?archived=true",
        {"inputs": [{"id": ids[0]}], "properties": []},
    )
    assert archived.status_code == 200
    assert archived.json()["results"][0]["archived"] is True


def test_it_lets_an_upsert_recreate_an_archived_key(keyed_api, sandbox):
    (old_id,) = keyed_api.create_line_items(_line("L1"))
    keyed_api.post(
        "/crm/v3/objects/line_items/batch/archive", {"inputs": [{"id": old_id}]}
    )

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/upsert",
        {
            "inputs": [
                {
                    "id": "L1",
                    "idProperty": "tally_line_key",
                    "properties": {"name": "Again"},
                }
            ]
        },
    )

    assert response.json()["results"][0]["new"] is True
    assert response.json()["results"][0]["id"] != old_id


def test_it_gets_one_record_with_default_properties(keyed_api):
    (line_id,) = keyed_api.create_line_items(_line("L1"))

    response = keyed_api.get(f"/crm/v3/objects/line_items/{line_id}")

    assert response.status_code == 200
    assert set(response.json()["properties"]) == {
        "quantity",
        "amount",
        "price",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    }


def test_it_gets_one_record_with_the_requested_properties(keyed_api):
    (line_id,) = keyed_api.create_line_items(_line("L1"))

    response = keyed_api.get(
        f"/crm/v3/objects/line_items/{line_id}?properties=name,tally_line_key"
    )

    assert response.json()["properties"]["name"] == "Widget L1"
    assert response.json()["properties"]["tally_line_key"] == "L1"


def test_it_answers_an_unknown_single_id_with_hubspots_404(sandbox_api):
    response = sandbox_api.get("/crm/v3/objects/line_items/12345")

    assert response.status_code == 404
    assert response.json() == {
        "status": "error",
        "message": "Object not found.  objectId are usually numeric.",
        "correlationId": response.headers["X-HubSpot-Correlation-Id"],
        "context": {"id": ["12345"]},
        "category": "OBJECT_NOT_FOUND",
    }


def test_it_lists_records_page_by_page(sandbox_api):
    ids = sandbox_api.create_line_items(*({"name": f"n{i}"} for i in range(5)))

    first = sandbox_api.get("/crm/v3/objects/line_items?limit=2&properties=name").json()
    after = first["paging"]["next"]["after"]
    second = sandbox_api.get(
        f"/crm/v3/objects/line_items?limit=2&after={after}&properties=name"
    ).json()
    third = sandbox_api.get(
        f"/crm/v3/objects/line_items?limit=2&after={second['paging']['next']['after']}"
    ).json()

    assert [
        r["id"] for r in first["results"] + second["results"] + third["results"]
    ] == ids
    assert first["results"][0]["properties"]["name"] == "n0"
    assert first["paging"]["next"]["link"].endswith(
        f"/crm/v3/objects/line_items?limit=2&after={after}&properties=name"
    )
    assert "paging" not in third


def test_it_patches_one_record(keyed_api, sandbox):
    deal_id = keyed_api.create_deal()

    response = keyed_api.patch(
        f"/crm/v3/objects/deals/{deal_id}", {"properties": {"dealstage": "closedlost"}}
    )

    assert response.status_code == 200
    assert response.json()["properties"]["dealstage"] == "closedlost"
    assert sandbox.store.get("deals", deal_id).properties["dealstage"] == "closedlost"


def test_it_refuses_a_patch_with_a_bad_value_as_hubspot_would(keyed_api, sandbox):
    deal_id = keyed_api.create_deal()

    response = keyed_api.patch(
        f"/crm/v3/objects/deals/{deal_id}", {"properties": {"amount": "lots"}}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "INVALID_INTEGER"
    assert "amount" not in sandbox.store.get("deals", deal_id).properties


def test_it_gets_an_archived_record_only_when_asked(sandbox_api):
    deal_id = sandbox_api.create_deal()
    sandbox_api.request("DELETE", f"/crm/v3/objects/deals/{deal_id}")

    live = sandbox_api.get(f"/crm/v3/objects/deals/{deal_id}")
    archived = sandbox_api.get(f"/crm/v3/objects/deals/{deal_id}?archived=true")

    assert live.status_code == 404
    assert archived.status_code == 200
    assert archived.json()["archived"] is True
    assert archived.json()["archivedAt"]


def test_it_answers_a_patch_of_an_unknown_id_with_404(sandbox_api):
    response = sandbox_api.patch(
        "/crm/v3/objects/deals/999", {"properties": {"dealname": "x"}}
    )

    assert response.status_code == 404
    assert response.json()["category"] == "OBJECT_NOT_FOUND"


def test_it_refuses_more_than_100_inputs(sandbox_api, sandbox):
    body = {"inputs": [{"properties": {"name": str(i)}} for i in range(101)]}

    response = sandbox_api.post("/crm/v3/objects/line_items/batch/create", body)

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "message": "The maximum number of inputs supported in a batch request is 100. Please reduce the number of items and try again",
        "correlationId": response.headers["X-HubSpot-Correlation-Id"],
        "category": "VALIDATION_ERROR",
    }
    assert sandbox.store.count("line_items") == 0


def test_it_refuses_a_batch_that_names_one_record_twice(keyed_api):
    (line_id,) = keyed_api.create_line_items(_line("L1"))
    inputs = [
        {"id": line_id, "properties": {"name": "a"}},
        {"id": line_id, "properties": {"name": "b"}},
    ]

    response = keyed_api.post(
        "/crm/v3/objects/line_items/batch/update", {"inputs": inputs}
    )

    assert response.status_code == 400
    assert (
        response.json()["message"]
        == f"Duplicate IDs found in batch input: ['{line_id}']. IDs must be unique"
    )


def test_it_refuses_an_unknown_object_type(sandbox_api):
    response = sandbox_api.post("/crm/v3/objects/widgets/batch/read", {"inputs": []})

    assert response.status_code == 400
    assert response.json()["message"] == "Unable to infer object type from: widgets"


def test_it_refuses_a_body_without_inputs(sandbox_api):
    response = sandbox_api.post(
        "/crm/v3/objects/line_items/batch/update", [{"id": "1"}]
    )

    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "path", ["/crm/v3/objects/deals/batch/read", "/crm/v3/objects/0-3/batch/read"]
)
def test_it_accepts_names_and_type_ids_in_paths(sandbox_api, path):
    deal_id = sandbox_api.create_deal()

    response = sandbox_api.post(
        path, {"inputs": [{"id": deal_id}], "properties": ["dealname"]}
    )

    assert response.json()["results"][0]["properties"]["dealname"] == "Order 1001"


def test_it_keeps_records_across_a_restart(tmp_path):
    db_path = tmp_path / "sandbox.sqlite3"
    with SandboxServer(db_path) as first:
        api = SandboxAPI(first.url)
        api.create_tally_properties()
        (line_id,) = api.create_line_items(_line("L1"))

    with SandboxServer(db_path) as second:
        api = SandboxAPI(second.url)
        read = api.post(
            "/crm/v3/objects/line_items/batch/read",
            {
                "inputs": [{"id": "L1"}],
                "idProperty": "tally_line_key",
                "properties": ["name"],
            },
        )
        (new_id,) = api.create_line_items({"name": "after restart"})

    assert read.status_code == 200
    assert read.json()["results"][0]["id"] == line_id
    assert int(new_id) > int(line_id)
