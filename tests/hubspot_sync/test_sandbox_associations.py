def _types(type_id: int) -> list[dict]:
    return [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]


def test_it_associates_line_items_with_a_deal_both_ways(sandbox_api, sandbox):
    deal_id = sandbox_api.create_deal()
    line_ids = sandbox_api.create_line_items({"name": "a"}, {"name": "b"})
    inputs = [
        {"from": {"id": i}, "to": {"id": deal_id}, "types": _types(20)}
        for i in line_ids
    ]

    response = sandbox_api.post(
        "/crm/v4/associations/line_items/deals/batch/create", {"inputs": inputs}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "COMPLETE"
    assert body["results"] == [
        {
            "fromObjectTypeId": "0-8",
            "fromObjectId": i,
            "toObjectTypeId": "0-3",
            "toObjectId": deal_id,
            "labels": [],
        }
        for i in line_ids
    ]
    links = sandbox.store.links_from([deal_id], "line_items")[deal_id]
    assert [(link.to_id, link.type_id) for link in links] == [(i, 19) for i in line_ids]


def test_it_answers_207_when_an_association_names_an_unknown_record(
    sandbox_api, sandbox
):
    deal_id = sandbox_api.create_deal()
    (line_id,) = sandbox_api.create_line_items({"name": "a"})
    inputs = [
        {"from": {"id": line_id}, "to": {"id": deal_id}, "types": _types(20)},
        {"from": {"id": "31"}, "to": {"id": deal_id}, "types": _types(20)},
        {"from": {"id": line_id}, "to": {"id": "32"}, "types": _types(20)},
    ]

    response = sandbox_api.post(
        "/crm/v4/associations/0-8/0-3/batch/create", {"inputs": inputs}
    )

    assert response.status_code == 207
    body = response.json()
    assert [r["fromObjectId"] for r in body["results"]] == [line_id]
    assert [(e["category"], e["context"]) for e in body["errors"]] == [
        ("OBJECT_NOT_FOUND", {"ids": ["31"]}),
        ("OBJECT_NOT_FOUND", {"ids": ["32"]}),
    ]
    assert body["errors"][1]["message"].startswith("Could not get some DEAL objects")


def test_it_refuses_an_association_type_that_does_not_fit(sandbox_api):
    deal_id = sandbox_api.create_deal()
    (line_id,) = sandbox_api.create_line_items({"name": "a"})
    inputs = [{"from": {"id": line_id}, "to": {"id": deal_id}, "types": _types(19)}]

    response = sandbox_api.post(
        "/crm/v4/associations/line_items/deals/batch/create", {"inputs": inputs}
    )

    assert response.status_code == 400


def test_it_reads_associations_of_each_record(sandbox_api):
    deal_id = sandbox_api.create_deal()
    line_ids = sandbox_api.create_line_items({"name": "a"}, {"name": "b"})
    inputs = [
        {"from": {"id": i}, "to": {"id": deal_id}, "types": _types(20)}
        for i in line_ids
    ]
    sandbox_api.post(
        "/crm/v4/associations/line_items/deals/batch/create", {"inputs": inputs}
    )

    response = sandbox_api.post(
        "/crm/v4/associations/deals/line_items/batch/read",
        {"inputs": [{"id": deal_id}]},
    )

    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "from": {"id": deal_id},
            "to": [
                {
                    "toObjectId": i,
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": 19, "label": None}
                    ],
                }
                for i in line_ids
            ],
        }
    ]


def test_it_answers_207_when_reading_associations_of_unknown_records(sandbox_api):
    (line_id,) = sandbox_api.create_line_items({"name": "a"})

    response = sandbox_api.post(
        "/crm/v4/associations/line_items/deals/batch/read",
        {"inputs": [{"id": line_id}, {"id": "55"}]},
    )

    assert response.status_code == 207
    body = response.json()
    assert body["results"] == [{"from": {"id": line_id}, "to": []}]
    assert body["errors"][0]["context"] == {"ids": ["55"]}
