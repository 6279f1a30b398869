import pytest

from hubspot_sync.sandbox.quirks import REGISTRY, QuirkSet, parse_quirk
from hubspot_sync.sandbox.server import SandboxServer
from tests.hubspot_sync.conftest import SandboxAPI

UPDATE = "/crm/v3/objects/line_items/batch/update"
UPSERT = "/crm/v3/objects/line_items/batch/upsert"


def _update_with_one_unknown(api: SandboxAPI):
    (line_id,) = api.create_line_items({"name": "a"})
    inputs = [
        {"id": line_id, "properties": {"name": "b"}},
        {"id": "404404", "properties": {"name": "c"}},
    ]
    return line_id, api.post(UPDATE, {"inputs": inputs})


def _upsert_keys(api: SandboxAPI, keys: list[str]):
    inputs = [
        {"id": k, "idProperty": "tally_line_key", "properties": {"name": k}}
        for k in keys
    ]
    return api.post(UPSERT, {"inputs": inputs})


def test_silent_skip_update_answers_200_naming_unknown_ids_nowhere(
    sandbox_api, sandbox
):
    sandbox.configure(quirks={"silent_skip_update": True})

    line_id, response = _update_with_one_unknown(sandbox_api)

    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["results"]] == [line_id]
    assert "errors" not in body and "numErrors" not in body
    assert sandbox.store.get("line_items", line_id).properties["name"] == "b"


def test_silent_skip_update_207_answers_207_with_no_errors(sandbox_api, sandbox):
    sandbox.configure(quirks={"silent_skip_update_207": True})

    line_id, response = _update_with_one_unknown(sandbox_api)

    assert response.status_code == 207
    body = response.json()
    assert (body["numErrors"], body["errors"]) == (0, [])
    assert [r["id"] for r in body["results"]] == [line_id]


def test_silent_skip_update_keeps_other_answers_as_they_are(sandbox_api, sandbox):
    sandbox.configure(
        quirks={"silent_skip_update": True, "silent_skip_update_207": True}
    )
    (line_id,) = sandbox_api.create_line_items({"name": "a"})

    update = sandbox_api.post(
        UPDATE, {"inputs": [{"id": line_id, "properties": {"name": "b"}}]}
    )
    read = sandbox_api.post(
        "/crm/v3/objects/line_items/batch/read",
        {"inputs": [{"id": "404404"}], "properties": []},
    )

    assert update.status_code == 200
    assert read.status_code == 207
    assert read.json()["errors"][0]["context"] == {"ids": ["404404"]}


def test_drop_result_writes_everything_but_leaves_a_share_out(keyed_api, sandbox):
    sandbox.configure(quirks={"drop_result": 0.1})
    keys = [f"L{i}" for i in range(100)]

    response = _upsert_keys(keyed_api, keys)

    assert response.status_code == 200
    echoed = len(response.json()["results"])
    assert 80 <= echoed <= 97  # each left out with probability 0.1 (seeded)
    assert "errors" not in response.json()
    assert sandbox.store.count("line_items") == 100


def test_drop_result_at_rate_one_leaves_every_result_out(sandbox_api, sandbox):
    sandbox.configure(quirks={"drop_result": 1})

    response = sandbox_api.post(
        "/crm/v3/objects/line_items/batch/create",
        {"inputs": [{"properties": {"name": str(i)}} for i in range(5)]},
    )

    assert response.status_code == 201
    assert response.json()["results"] == []
    assert sandbox.store.count("line_items") == 5


def test_drop_result_picks_the_same_inputs_for_the_same_seed(tmp_path):
    def dropped_keys(name: str, seed: int) -> set[str]:
        with SandboxServer(
            tmp_path / f"{name}.sqlite3", quirks={"drop_result": 0.2}, seed=seed
        ) as server:
            api = SandboxAPI(server.url)
            api.create_tally_properties()
            keys = [f"L{i}" for i in range(20)]
            answered = {
                r["properties"]["tally_line_key"]
                for r in _upsert_keys(api, keys).json()["results"]
            }
            return set(keys) - answered

    first, again, other = (
        dropped_keys("a", 1),
        dropped_keys("b", 1),
        dropped_keys("c", 2),
    )

    assert len(first) == 4
    assert first == again
    assert first != other


def test_drop_result_leaves_reads_alone(sandbox_api, sandbox):
    ids = sandbox_api.create_line_items({"name": "a"}, {"name": "b"})
    sandbox.configure(quirks={"drop_result": 1})

    response = sandbox_api.post(
        "/crm/v3/objects/line_items/batch/read",
        {"inputs": [{"id": i} for i in ids], "properties": []},
    )

    assert len(response.json()["results"]) == 2


def test_quirks_switch_on_and_off_over_http(sandbox_api):
    sandbox_api.post("/_sandbox/config", {"quirks": {"silent_skip_update": True}})
    _, skipped = _update_with_one_unknown(sandbox_api)
    sandbox_api.post("/_sandbox/config", {"quirks": {}})
    _, reported = _update_with_one_unknown(sandbox_api)

    assert skipped.status_code == 200
    assert reported.status_code == 207


def test_quirks_are_off_by_default(sandbox):
    assert sandbox.app.quirks.describe() == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("drop_result", ("drop_result", None)),
        ("drop_result=0.05", ("drop_result", 0.05)),
    ],
)
def test_it_reads_quirks_from_the_command_line(text, expected):
    assert parse_quirk(text) == expected


def test_it_refuses_unknown_quirks_and_bad_rates():
    with pytest.raises(ValueError, match="unknown quirk"):
        QuirkSet({"no_such_quirk": True})
    with pytest.raises(ValueError, match="rate"):
        QuirkSet({"drop_result": 1.5})
    with pytest.raises(ValueError, match="number"):
        parse_quirk("drop_result=lots")


def test_every_quirk_says_what_it_reproduces_and_where_that_is_from():
    assert set(REGISTRY) == {
        "silent_skip_update",
        "silent_skip_update_207",
        "silent_skip_merged",
        "drop_result",
        "reject_whole_batch",
        "html_5xx",
        "connection_reset",
        "timeout_after_write",
        "association_empty",
        "search_lag",
        "no_unique_line_items",
    }
    assert all(cls.reproduces and cls.source for cls in REGISTRY.values())


def test_it_runs_quirks_in_one_order_whatever_order_they_are_named_in():
    forward = QuirkSet({"drop_result": 0.5, "html_5xx": 0.5}, seed=2)
    backward = QuirkSet({"html_5xx": 0.5, "drop_result": 0.5}, seed=2)

    assert [q.name for q in forward._quirks] == [q.name for q in backward._quirks]
    assert list(forward.describe()) == ["drop_result", "html_5xx"]
