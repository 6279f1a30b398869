"""The control endpoints that act as people in HubSpot: plant, merge, archive and restore."""

import sqlite3
import threading

import pytest

from hubspot_sync.sandbox.store import Record
from tests.hubspot_sync.conftest import SandboxAPI

NOT_FOUND = "Could not get some LINE_ITEM objects, they may be deleted or not exist. Check that ids are valid."
READ = "/crm/v3/objects/line_items/batch/read"
UPDATE = "/crm/v3/objects/line_items/batch/update"
UPSERT = "/crm/v3/objects/line_items/batch/upsert"


def _upsert(api: SandboxAPI, key: str, **properties: str):
    inputs = [{"id": key, "idProperty": "tally_line_key", "properties": properties}]
    return api.post(UPSERT, {"inputs": inputs})


# Planting records


def test_it_plants_a_record_by_hand(keyed_api, sandbox):
    response = keyed_api.post(
        "/_sandbox/records/line_items",
        {"properties": {"name": "Typed in", "tally_line_key": "L1", "quantity": 2}},
    )

    assert response.status_code == 201
    body = response.json()
    line_id = body["id"]
    assert body["properties"] == {
        "name": "Typed in",
        "tally_line_key": "L1",
        "quantity": "2",
        "hs_object_id": line_id,
        "createdate": body["createdAt"],
        "hs_lastmodifieddate": body["createdAt"],
    }
    assert body["archived"] is False
    assert sandbox.store.get("line_items", line_id).properties["name"] == "Typed in"


def test_it_lets_a_planted_key_block_a_create_and_absorb_an_upsert(keyed_api, sandbox):
    planted = keyed_api.plant("line_items", tally_line_key="L1", name="by hand")

    created = keyed_api.post(
        "/crm/v3/objects/line_items/batch/create",
        {"inputs": [{"properties": {"tally_line_key": "L1"}}]},
    )
    upserted = _upsert(keyed_api, "L1", name="from Tally")

    assert created.status_code == 409
    assert created.json()["message"] == (
        f'Property "tally_line_key" already has that value "L1". Existing ID: {planted}'
    )
    assert upserted.status_code == 200
    assert (
        upserted.json()["results"][0]["id"],
        upserted.json()["results"][0]["new"],
    ) == (
        planted,
        False,
    )
    assert [
        r.properties["name"]
        for r in sandbox.store.find_by_property("line_items", "tally_line_key", "L1")
    ] == ["from Tally"]


def test_it_refuses_to_plant_a_second_holder_of_a_unique_value(keyed_api, sandbox):
    first = keyed_api.plant("line_items", tally_line_key="L1")

    response = keyed_api.post(
        "/_sandbox/records/line_items", {"properties": {"tally_line_key": "L1"}}
    )

    assert response.status_code == 409
    assert response.json()["category"] == "CONFLICT"
    assert [r.id for r in sandbox.store.all("line_items")] == [first]


def test_it_validates_a_planted_record_as_hubspot_would(keyed_api, sandbox):
    response = keyed_api.post(
        "/_sandbox/records/line_items", {"properties": {"price": "-1"}}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "NEGATIVE_VALUE"
    assert sandbox.store.count("line_items") == 0


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/_sandbox/records/line_items", {"properties": "x"}, 400),
        ("/_sandbox/records/contacts", {"properties": {}}, 400),
        ("/_sandbox/merge/line_items", {"primary": "1"}, 400),
        ("/_sandbox/nothing/line_items", {}, 404),
    ],
)
def test_it_refuses_bad_control_calls(sandbox_api, path, body, status):
    response = sandbox_api.post(path, body)

    assert response.status_code == status


def test_it_never_lets_concurrent_upserts_store_one_key_twice(keyed_api, sandbox):
    answers = []

    def upsert() -> None:
        answers.append(_upsert(SandboxAPI(keyed_api.url), "L1", name="race"))

    threads = [threading.Thread(target=upsert) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [200] * 8
    assert sorted(a.json()["results"][0]["new"] for a in answers) == [False] * 7 + [
        True
    ]
    assert sandbox.store.count("line_items") == 1


def test_its_store_refuses_a_second_holder_even_without_the_checks(keyed_api, sandbox):
    first = keyed_api.plant("line_items", tally_line_key="L1")
    copy = Record("40999999999", "line_items", {"tally_line_key": "L1"}, 0, 0)

    with pytest.raises(sqlite3.IntegrityError):
        sandbox.store.save([copy])

    assert [r.id for r in sandbox.store.all("line_items")] == [first]


# Merged records


def test_it_merges_a_record_away_into_the_primary(keyed_api, sandbox):
    primary, loser = keyed_api.create_line_items(
        {"name": "keep", "tally_line_key": "L1"},
        {"name": "lose", "tally_line_key": "L2"},
    )

    survivor = keyed_api.merge("line_items", primary, loser)

    assert survivor["id"] == primary
    assert survivor["properties"]["hs_merged_object_ids"] == loser
    assert survivor["properties"]["tally_line_key"] == "L1"
    assert survivor["properties"]["name"] == "keep"
    assert sandbox.store.get("line_items", loser) is None
    assert sandbox.store.get("line_items", loser, archived=True) is None
    assert sandbox.store.count("line_items") == 1
    assert sandbox.store.get("line_items", primary).properties[
        "hs_merged_object_ids"
    ] == (loser)


def test_it_releases_the_merged_away_records_unique_value(keyed_api, sandbox):
    primary, loser = keyed_api.create_line_items(
        {"tally_line_key": "L1"}, {"tally_line_key": "L2"}
    )
    keyed_api.merge("line_items", primary, loser)

    response = _upsert(keyed_api, "L2", name="again")

    (result,) = response.json()["results"]
    assert result["new"] is True
    assert result["id"] not in (primary, loser)


def test_it_can_give_the_merged_record_a_new_id(keyed_api, sandbox):
    primary, loser = keyed_api.create_line_items(
        {"tally_line_key": "L1"}, {"tally_line_key": "L2"}
    )

    survivor = keyed_api.merge("line_items", primary, loser, new_id=True)

    new = survivor["id"]
    assert int(new) > int(loser)
    assert survivor["properties"]["hs_merged_object_ids"] == f"{primary};{loser}"
    assert survivor["properties"]["tally_line_key"] == "L1"
    assert [r.id for r in sandbox.store.all("line_items")] == [new]
    for old in (primary, loser):
        assert keyed_api.get(f"/crm/v3/objects/line_items/{old}").json()["id"] == new


def test_it_keeps_every_absorbed_id_through_a_chain_of_merges(keyed_api):
    first, second, third = keyed_api.create_line_items({}, {}, {})
    keyed_api.merge("line_items", second, first)

    survivor = keyed_api.merge("line_items", third, second)

    assert survivor["properties"]["hs_merged_object_ids"] == f"{first};{second}"
    read = keyed_api.get(f"/crm/v3/objects/line_items/{first}")
    assert read.json()["id"] == third


def test_it_moves_the_merged_away_deals_line_items_to_the_survivor(keyed_api, sandbox):
    keep, lose = keyed_api.create_deal(), keyed_api.create_deal()
    (line_id,) = keyed_api.create_line_items({"name": "a"})
    keyed_api.post(
        "/crm/v4/associations/line_items/deals/batch/create",
        {
            "inputs": [
                {
                    "from": {"id": line_id},
                    "to": {"id": lose},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": 20,
                        }
                    ],
                }
            ]
        },
    )

    keyed_api.merge("deals", keep, lose)

    assert [
        link.to_id for link in sandbox.store.links_from([keep], "line_items")[keep]
    ] == [line_id]
    assert [
        link.to_id for link in sandbox.store.links_from([line_id], "deals")[line_id]
    ] == [keep]


def test_it_updates_the_survivor_through_a_single_patch_of_the_old_id(
    keyed_api, sandbox
):
    primary, loser = keyed_api.create_line_items({"name": "keep"}, {"name": "lose"})
    keyed_api.merge("line_items", primary, loser)

    response = keyed_api.patch(
        f"/crm/v3/objects/line_items/{loser}", {"properties": {"name": "patched"}}
    )

    assert response.status_code == 200
    assert response.json()["id"] == primary
    assert sandbox.store.get("line_items", primary).properties["name"] == "patched"


def test_it_archives_the_survivor_through_a_delete_of_the_old_id(keyed_api, sandbox):
    primary, loser = keyed_api.create_line_items({"name": "keep"}, {"name": "lose"})
    keyed_api.merge("line_items", primary, loser)

    response = keyed_api.request("DELETE", f"/crm/v3/objects/line_items/{loser}")

    assert response.status_code == 204
    assert sandbox.store.count("line_items") == 0
    assert sandbox.store.get("line_items", primary, archived=True).archived


def test_it_answers_a_single_get_of_the_old_id_with_the_survivor(keyed_api):
    primary, loser = keyed_api.create_line_items({"name": "keep"}, {"name": "lose"})
    keyed_api.merge("line_items", primary, loser)

    response = keyed_api.get(
        f"/crm/v3/objects/line_items/{loser}?properties=name,hs_merged_object_ids"
    )

    assert response.status_code == 200
    assert response.json()["id"] == primary
    assert response.json()["properties"]["name"] == "keep"
    assert response.json()["properties"]["hs_merged_object_ids"] == loser


def test_it_answers_a_batch_read_of_the_old_id_with_the_survivor(keyed_api):
    primary, loser = keyed_api.create_line_items({"name": "keep"}, {"name": "lose"})
    keyed_api.merge("line_items", primary, loser)

    response = keyed_api.post(
        READ,
        {
            "inputs": [{"id": loser}, {"id": primary}, {"id": "404"}],
            "properties": ["name"],
        },
    )

    assert response.status_code == 207
    body = response.json()
    assert [(r["id"], r["properties"]["name"]) for r in body["results"]] == [
        (primary, "keep")
    ]
    assert body["errors"][0]["context"] == {"ids": ["404"]}


def test_it_reports_the_old_id_in_a_batch_update_by_default(keyed_api, sandbox):
    primary, loser = keyed_api.create_line_items({"name": "keep"}, {"name": "lose"})
    keyed_api.merge("line_items", primary, loser)

    response = keyed_api.post(
        UPDATE, {"inputs": [{"id": loser, "properties": {"name": "changed"}}]}
    )

    assert response.status_code == 207
    body = response.json()
    assert body["results"] == []
    assert body["errors"] == [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": NOT_FOUND,
            "context": {"ids": [loser]},
            "errors": [],
            "links": {},
        }
    ]
    assert sandbox.store.get("line_items", primary).properties["name"] == "keep"


# Archived records


def test_it_archives_a_record_through_the_control_endpoint(keyed_api, sandbox):
    (line_id,) = keyed_api.create_line_items({"tally_line_key": "L1"})

    response = keyed_api.post(f"/_sandbox/archive/line_items/{line_id}")

    assert response.status_code == 200
    assert response.json()["archived"] is True
    assert response.json()["archivedAt"]
    assert sandbox.store.get("line_items", line_id) is None
    assert sandbox.store.get("line_items", line_id, archived=True).archived


def test_it_refuses_to_archive_what_is_not_live(sandbox_api):
    response = sandbox_api.post("/_sandbox/archive/line_items/404")

    assert response.status_code == 404
    assert response.json()["category"] == "OBJECT_NOT_FOUND"


def test_it_hides_archived_records_from_batch_reads_unless_asked(keyed_api):
    live, gone = keyed_api.create_line_items(
        {"tally_line_key": "L1"}, {"tally_line_key": "L2"}
    )
    keyed_api.post(f"/_sandbox/archive/line_items/{gone}")
    body = {"inputs": [{"id": live}, {"id": gone}], "properties": ["tally_line_key"]}

    plain = keyed_api.post(READ, body)
    archived = keyed_api.post(f"{READ}?archived=true", body)

    assert plain.status_code == 207
    assert [r["id"] for r in plain.json()["results"]] == [live]
    assert plain.json()["errors"][0]["context"] == {"ids": [gone]}
    assert archived.status_code == 207
    (result,) = archived.json()["results"]
    assert (result["id"], result["archived"]) == (gone, True)
    assert result["archivedAt"] >= result["createdAt"]
    assert archived.json()["errors"][0]["context"] == {"ids": [live]}


def test_it_reads_missing_and_archived_keys_by_id_property(keyed_api):
    (gone,) = keyed_api.create_line_items({"tally_line_key": "L1"})
    keyed_api.post(f"/_sandbox/archive/line_items/{gone}")
    body = {
        "idProperty": "tally_line_key",
        "inputs": [{"id": "L1"}, {"id": "L9"}, {"id": "L9"}],
        "properties": [],
    }

    plain = keyed_api.post(READ, body)
    archived = keyed_api.post(f"{READ}?archived=true", body)

    assert plain.status_code == 207
    assert plain.json()["results"] == []
    assert plain.json()["numErrors"] == 1
    assert plain.json()["errors"][0]["context"] == {"ids": ["L1", "L9"]}
    assert archived.status_code == 207
    assert [r["id"] for r in archived.json()["results"]] == [gone]
    assert archived.json()["errors"][0]["context"] == {"ids": ["L9"]}


def test_a_restored_record_is_live_again_with_its_key_and_links(keyed_api, sandbox):
    deal_id = keyed_api.create_deal()
    (line_id,) = keyed_api.create_line_items({"tally_line_key": "L1"})
    types = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}]
    linked = keyed_api.post(
        "/crm/v4/associations/line_items/deals/batch/create",
        {"inputs": [{"from": {"id": line_id}, "to": {"id": deal_id}, "types": types}]},
    )
    assert linked.status_code == 201, linked.text
    keyed_api.post(f"/_sandbox/archive/line_items/{line_id}")
    assert sandbox.store.links_from([deal_id], "line_items")[deal_id] == []

    response = keyed_api.post(f"/_sandbox/restore/line_items/{line_id}")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["archived"]) == (line_id, False)
    assert sandbox.store.get("line_items", line_id).properties["tally_line_key"] == "L1"
    assert [
        link.to_id
        for link in sandbox.store.links_from([deal_id], "line_items")[deal_id]
    ] == [line_id]
    # The key is the restored record's again: an upsert on it updates, not creates.
    upserted = _upsert(keyed_api, "L1", name="after restore")
    assert upserted.json()["results"][0]["id"] == line_id
    assert sandbox.store.count("line_items") == 1


def test_a_record_whose_key_was_taken_meanwhile_is_not_restored(keyed_api, sandbox):
    (line_id,) = keyed_api.create_line_items({"tally_line_key": "L1"})
    keyed_api.post(f"/_sandbox/archive/line_items/{line_id}")
    new_id = _upsert(keyed_api, "L1", name="re-created").json()["results"][0]["id"]

    response = keyed_api.post(f"/_sandbox/restore/line_items/{line_id}")

    assert response.status_code == 409
    assert response.json()["message"] == (
        f"Cannot restore LINE_ITEM {line_id}: tally_line_key 'L1' is held by "
        f"record {new_id}"
    )
    assert sandbox.store.get("line_items", line_id, archived=True).archived
    assert sandbox.store.get("line_items", new_id).properties["tally_line_key"] == "L1"


def test_it_refuses_to_restore_what_is_not_archived(keyed_api):
    (line_id,) = keyed_api.create_line_items({"tally_line_key": "L1"})

    for object_id in (line_id, "404"):
        response = keyed_api.post(f"/_sandbox/restore/line_items/{object_id}")
        assert response.status_code == 404
