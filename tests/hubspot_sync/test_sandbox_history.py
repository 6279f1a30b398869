"""Property history in reads, and the control endpoint that edits as a person."""

import pytest

from hubspot_sync.sandbox.clock import iso

READ = "/crm/v3/objects/line_items/batch/read"
UPSERT = "/crm/v3/objects/line_items/batch/upsert"
APP = {"sourceType": "INTEGRATION", "sourceId": "1837263"}


def _upsert(api, key: str, **properties) -> dict:
    inputs = [{"id": key, "idProperty": "tally_line_key", "properties": properties}]
    response = api.post(UPSERT, {"inputs": inputs})
    assert response.status_code == 200, response.text
    return response.json()["results"][0]


def _read(api, ids, names, history, **params):
    body = {
        "inputs": [{"id": i} for i in ids],
        "properties": names,
        "propertiesWithHistory": history,
    }
    return api.post(READ, body, params=params)


def test_it_answers_each_write_as_a_version_newest_first(keyed_api, frozen_clock):
    created = _upsert(keyed_api, "L1", name="First", price="2.55")
    frozen_clock.advance(60)
    _upsert(keyed_api, "L1", name="Second", price="2.55")
    frozen_clock.advance(60)
    edited = keyed_api.post(
        f"/_sandbox/edit/line_items/{created['id']}",
        {"properties": {"name": "Typed"}, "userId": 4242},
    )

    response = _read(keyed_api, [created["id"]], ["name"], ["name", "price"])

    assert edited.status_code == 200
    assert response.status_code == 200
    (result,) = response.json()["results"]
    first = created["createdAt"]
    moment = frozen_clock.time_ns() // 1_000_000
    assert result["propertiesWithHistory"] == {
        "name": [
            {
                "value": "Typed",
                "timestamp": iso(moment),
                "sourceType": "CRM_UI",
                "sourceId": "userId:4242",
                "updatedByUserId": 4242,
            },
            {"value": "Second", "timestamp": iso(moment - 60_000), **APP},
            {"value": "First", "timestamp": first, **APP},
        ],
        # Written twice with one value: one version.
        "price": [{"value": "2.55", "timestamp": first, **APP}],
    }
    assert result["properties"]["name"] == "Typed"


def test_an_edit_moves_the_last_modified_date(keyed_api, frozen_clock):
    created = _upsert(keyed_api, "L1", name="First")
    frozen_clock.advance(5)

    edited = keyed_api.post(
        f"/_sandbox/edit/line_items/{created['id']}", {"properties": {"name": "B"}}
    ).json()

    assert edited["updatedAt"] > created["updatedAt"]
    assert edited["properties"]["hs_lastmodifieddate"] == edited["updatedAt"]
    assert edited["properties"]["name"] == "B"
    history = _read(keyed_api, [created["id"]], [], ["name"]).json()["results"][0]
    assert history["propertiesWithHistory"]["name"][0]["updatedByUserId"] == 2934716


def test_an_edit_is_checked_as_any_write(keyed_api):
    line = _upsert(keyed_api, "L1", name="A")["id"]

    bad_value = keyed_api.post(
        f"/_sandbox/edit/line_items/{line}", {"properties": {"price": "-1"}}
    )
    bad_user = keyed_api.post(
        f"/_sandbox/edit/line_items/{line}",
        {"properties": {"name": "B"}, "userId": "me"},
    )
    unknown = keyed_api.post(
        "/_sandbox/edit/line_items/39999999999", {"properties": {"name": "B"}}
    )

    assert bad_value.status_code == 400
    assert bad_value.json()["category"] == "VALIDATION_ERROR"
    assert bad_user.status_code == 400
    assert bad_user.json()["message"] == (
        "Invalid input JSON: `userId` must be a positive whole number"
    )
    assert unknown.status_code == 404
    assert unknown.json()["message"] == (
        "The sandbox has no live LINE_ITEM 39999999999"
    )


def test_history_reads_take_fifty_inputs_at_most(keyed_api):
    ids = [str(40_000_000_001 + n) for n in range(51)]

    refused = _read(keyed_api, ids, ["name"], ["name"])
    plain = _read(keyed_api, ids, ["name"], [])

    assert refused.status_code == 400
    body = refused.json()
    assert (body["status"], body["category"], body["message"]) == (
        "error",
        "VALIDATION_ERROR",
        "The maximum number of inputs supported in a batch request for property "
        "histories is 50. Please reduce the number of items and try again",
    )
    assert plain.status_code == 207


def test_get_and_list_answer_history_too(keyed_api):
    line = _upsert(keyed_api, "L1", name="A")

    one = keyed_api.get(
        f"/crm/v3/objects/line_items/{line['id']}",
        params={"propertiesWithHistory": "name"},
    ).json()
    page = keyed_api.get(
        "/crm/v3/objects/line_items",
        params={"propertiesWithHistory": "name,nonsense", "limit": 1},
    ).json()

    versions = [{"value": "A", "timestamp": line["createdAt"], **APP}]
    assert one["propertiesWithHistory"] == {"name": versions}
    assert page["results"][0]["propertiesWithHistory"] == {"name": versions}


def test_a_read_without_history_has_none(keyed_api):
    line = _upsert(keyed_api, "L1", name="A")

    result = _read(keyed_api, [line["id"]], ["name"], []).json()["results"][0]

    assert "propertiesWithHistory" not in result


def test_a_merge_is_a_person_s_version(keyed_api, frozen_clock):
    first = _upsert(keyed_api, "L1", name="A")["id"]
    second = _upsert(keyed_api, "L2", name="B")["id"]
    frozen_clock.advance(1)

    survivor = keyed_api.merge("line_items", first, second, new_id=True)

    history = _read(keyed_api, [survivor["id"]], [], ["name", "hs_merged_object_ids"])
    versions = history.json()["results"][0]["propertiesWithHistory"]
    assert [v["value"] for v in versions["name"]] == ["A"]
    assert versions["hs_merged_object_ids"] == [
        {
            "value": f"{first};{second}",
            "timestamp": survivor["updatedAt"],
            "sourceType": "CRM_UI",
            "sourceId": "userId:2934716",
            "updatedByUserId": 2934716,
        }
    ]


@pytest.mark.parametrize("duplicate", [False, True])
def test_a_planted_duplicate_key_needs_the_flag(keyed_api, sandbox, duplicate):
    original = _upsert(keyed_api, "L1", name="A")["id"]

    response = keyed_api.post(
        "/_sandbox/records/line_items",
        {"properties": {"tally_line_key": "L1"}, "duplicate": duplicate},
    )

    if not duplicate:
        assert response.status_code == 409
        return
    assert response.status_code == 201
    holders = sandbox.store.find_by_property("line_items", "tally_line_key", "L1")
    assert [r.id for r in holders] == [original, response.json()["id"]]
    # The key still names the first record in reads and upserts.
    assert _upsert(keyed_api, "L1", name="C")["id"] == original
