"""POST /crm/v3/objects/{t}/search, its limits, and the search_lag quirk."""

import pytest

from tests.hubspot_sync.conftest import SandboxAPI


def _eq(name: str, value: str) -> dict:
    return {"propertyName": name, "operator": "EQ", "value": value}


def _where(*filters: dict, **extra) -> dict:
    return {"filterGroups": [{"filters": list(filters)}], **extra}


def _found(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["results"]]


@pytest.fixture
def lines(keyed_api) -> list[str]:
    return keyed_api.create_line_items(
        {"name": "Blue Widget", "tally_line_key": "L1", "quantity": "9", "price": "2"},
        {"name": "Red widget", "tally_line_key": "L2", "quantity": "10", "price": "1"},
        {"name": "Green gadget", "tally_line_key": "L3", "quantity": "1"},
    )


def test_it_finds_a_record_by_a_property_with_search_defaults(keyed_api, lines):
    response = keyed_api.search("line_items", _where(_eq("tally_line_key", "l2")))

    assert response.status_code == 200
    body = response.json()
    (result,) = body["results"]
    assert body == {"total": 1, "results": [result]}
    assert result["id"] == lines[1]
    assert result["properties"] == {
        "quantity": "10",
        "amount": "10",
        "price": "1",
        "createdate": result["createdAt"],
        "hs_lastmodifieddate": result["updatedAt"],
        "hs_object_id": lines[1],
    }
    assert result["archived"] is False


def test_it_answers_search_without_rate_limit_headers(keyed_api, lines):
    response = keyed_api.search("line_items", {})

    assert response.headers["X-HubSpot-Correlation-Id"]
    assert not [k for k in response.headers if k.startswith("X-HubSpot-RateLimit")]


def test_it_returns_the_requested_properties_oldest_first(keyed_api, lines):
    response = keyed_api.search("line_items", {"properties": ["name", "nope"]})

    assert [r["id"] for r in response.json()["results"]] == lines
    assert response.json()["results"][2]["properties"] == {
        "name": "Green gadget",
        "createdate": response.json()["results"][2]["createdAt"],
        "hs_lastmodifieddate": response.json()["results"][2]["updatedAt"],
        "hs_object_id": lines[2],
    }


def test_it_matches_string_in_values_only_in_lower_case(keyed_api, lines):
    lower = {"propertyName": "tally_line_key", "operator": "IN", "values": ["l1", "l3"]}
    upper = {"propertyName": "tally_line_key", "operator": "IN", "values": ["L1"]}

    assert _found(keyed_api.search("line_items", _where(lower))) == [lines[0], lines[2]]
    assert _found(keyed_api.search("line_items", _where(upper))) == []


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"operator": "NEQ", "value": "l1"}, [1, 2]),
        ({"operator": "NOT_IN", "values": ["l1", "l2"]}, [2]),
        ({"operator": "HAS_PROPERTY"}, [0, 1, 2]),
        ({"operator": "NOT_HAS_PROPERTY"}, []),
        ({"operator": "CONTAINS_TOKEN", "value": "l*"}, [0, 1, 2]),
        ({"operator": "NOT_CONTAINS_TOKEN", "value": "L3"}, [0, 1]),
    ],
)
def test_it_applies_string_operators(keyed_api, lines, flt, expected):
    response = keyed_api.search(
        "line_items", _where({"propertyName": "tally_line_key", **flt})
    )

    assert _found(response) == [lines[i] for i in expected]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"operator": "GT", "value": "9"}, [1]),
        ({"operator": "GTE", "value": "9"}, [0, 1]),
        ({"operator": "LT", "value": "9"}, [2]),
        ({"operator": "LTE", "value": 9}, [0, 2]),
        ({"operator": "EQ", "value": "9.00"}, [0]),
        ({"operator": "BETWEEN", "value": "2", "highValue": "10"}, [0, 1]),
        ({"operator": "IN", "values": ["1", "10"]}, [1, 2]),
    ],
)
def test_it_compares_numbers_as_numbers(keyed_api, lines, flt, expected):
    response = keyed_api.search(
        "line_items", _where({"propertyName": "quantity", **flt})
    )

    assert _found(response) == [lines[i] for i in expected]


def test_it_treats_a_missing_value_as_not_equal(keyed_api, lines):
    response = keyed_api.search(
        "line_items",
        _where({"propertyName": "price", "operator": "NEQ", "value": "2"}),
    )

    assert _found(response) == [lines[1], lines[2]]


def test_it_ands_filters_and_ors_groups(keyed_api, lines):
    body = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": "name",
                        "operator": "CONTAINS_TOKEN",
                        "value": "widget",
                    },
                    {"propertyName": "quantity", "operator": "GT", "value": "9"},
                ]
            },
            {"filters": [_eq("tally_line_key", "L3")]},
        ]
    }

    assert _found(keyed_api.search("line_items", body)) == [lines[1], lines[2]]


def test_it_finds_keys_in_either_group_whatever_their_case(keyed_api, lines):
    (accented,) = keyed_api.create_line_items({"name": "Émile's ÉCLAIR"})
    body = {
        "filterGroups": [
            {"filters": [_eq("tally_line_key", "l1")]},
            {"filters": [_eq("name", "émile's éclair")]},
            {"filters": [_eq("name", "GREEN GADGET"), _eq("quantity", "1")]},
        ]
    }

    assert _found(keyed_api.search("line_items", body)) == [
        lines[0],
        lines[2],
        accented,
    ]


def test_it_compares_dates_as_moments(keyed_api, lines):
    created = keyed_api.get(f"/crm/v3/objects/line_items/{lines[0]}").json()

    response = keyed_api.search(
        "line_items",
        _where(
            {
                "propertyName": "createdate",
                "operator": "GTE",
                "value": created["createdAt"],
            }
        ),
    )

    assert _found(response) == lines


def test_it_matches_enumerations_case_sensitively(keyed_api):
    deal_id = keyed_api.create_deal(dealstage="closedwon")

    exact = keyed_api.search("deals", _where(_eq("dealstage", "closedwon")))
    shouted = keyed_api.search("deals", _where(_eq("dealstage", "CLOSEDWON")))

    assert _found(exact) == [deal_id]
    assert _found(shouted) == []


def test_it_finds_line_items_through_their_deal(keyed_api, lines):
    deal_id = keyed_api.create_deal()
    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}
    keyed_api.post(
        "/crm/v4/associations/line_items/deals/batch/create",
        {
            "inputs": [
                {"from": {"id": lines[1]}, "to": {"id": deal_id}, "types": [spec]}
            ]
        },
    )

    response = keyed_api.search("line_items", _where(_eq("associations.deal", deal_id)))

    assert _found(response) == [lines[1]]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ({"propertyName": "quantity", "direction": "DESCENDING"}, [1, 0, 2]),
        ({"propertyName": "price", "direction": "ASCENDING"}, [1, 0, 2]),
        ("name", [0, 2, 1]),
        ("-name", [1, 2, 0]),
    ],
)
def test_it_sorts_by_one_property(keyed_api, lines, sort, expected):
    response = keyed_api.search("line_items", {"sorts": [sort]})

    assert _found(response) == [lines[i] for i in expected]


def test_it_pages_with_integer_after_values_and_a_total(keyed_api):
    ids = keyed_api.create_line_items(*({"name": f"n{i}"} for i in range(5)))

    first = keyed_api.search("line_items", {"limit": 2}).json()
    second = keyed_api.search("line_items", {"limit": 2, "after": "2"}).json()
    last = keyed_api.search("line_items", {"limit": 2, "after": 4}).json()

    assert first["total"] == second["total"] == last["total"] == 5
    assert first["paging"] == {"next": {"after": "2"}}
    assert second["paging"] == {"next": {"after": "4"}}
    assert "paging" not in last
    assert [
        r["id"] for r in first["results"] + second["results"] + last["results"]
    ] == ids


def test_it_never_shows_archived_or_merged_away_records(keyed_api, lines):
    keyed_api.post(f"/_sandbox/archive/line_items/{lines[0]}")
    keyed_api.merge("line_items", lines[2], lines[1])

    everything = keyed_api.search("line_items", {})
    merged = keyed_api.search(
        "line_items",
        _where(
            {
                "propertyName": "hs_merged_object_ids",
                "operator": "EQ",
                "value": lines[1],
            }
        ),
    )

    assert _found(everything) == [lines[2]]
    assert _found(merged) == [lines[2]]


def _filters(count: int) -> list[dict]:
    return [_eq("name", str(i)) for i in range(count)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"filterGroups": [{"filters": _filters(1)}] * 6},
            "Too many filter groups: 6. At most 5 are allowed.",
        ),
        (
            {"filterGroups": [{"filters": _filters(7)}]},
            "Too many filters in a group: 7. At most 6 are allowed.",
        ),
        (
            {
                "filterGroups": [{"filters": _filters(6)}] * 3
                + [{"filters": _filters(1)}]
            },
            "Too many filters: 19. At most 18 are allowed in all groups.",
        ),
        ({"limit": 201}, "`limit` must be a whole number from 1 to 200"),
        ({"after": "abc"}, "`after` must be formatted as an integer, got 'abc'"),
        (
            {"after": "10000"},
            "Search results are limited to 10,000; `after` 10000 pages beyond them",
        ),
        (
            _where({"propertyName": "nope", "operator": "EQ", "value": "1"}),
            'Invalid filter: property "nope" does not exist',
        ),
        (
            _where({"propertyName": "quantity", "operator": "GT", "value": "lots"}),
            "Invalid filter: 'lots' is not a valid value for quantity",
        ),
        (
            {"sorts": ["name", "price"]},
            "Only one sorting rule can be applied to a search",
        ),
    ],
)
def test_it_refuses_searches_beyond_its_limits(keyed_api, body, message):
    response = keyed_api.search("line_items", body)

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "message": message,
        "correlationId": response.headers["X-HubSpot-Correlation-Id"],
        "category": "VALIDATION_ERROR",
    }


def test_it_refuses_a_body_over_3000_characters(keyed_api):
    values = [f"key-{i:05d}" for i in range(300)]
    body = _where(
        {"propertyName": "tally_line_key", "operator": "IN", "values": values}
    )

    response = keyed_api.search("line_items", body)

    assert response.status_code == 400
    assert response.json()["message"] == (
        "The search request body may not exceed 3000 characters"
    )


def test_it_limits_search_to_five_a_second(frozen_clock, keyed_api):
    answers = [keyed_api.search("line_items", {}) for _ in range(6)]
    frozen_clock.advance(1)
    later = keyed_api.search("line_items", {})

    assert [a.status_code for a in answers] == [200] * 5 + [429]
    refused = answers[-1]
    assert refused.json() == {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": refused.headers["X-HubSpot-Correlation-Id"],
        "policyName": "SECONDLY",
        "requestId": refused.json()["requestId"],
    }
    assert not [k for k in refused.headers if k.startswith("X-HubSpot-RateLimit")]
    assert later.status_code == 200


def test_it_counts_search_apart_from_the_ten_second_window(frozen_clock, keyed_api):
    def remaining() -> int:
        read = keyed_api.post(
            "/crm/v3/objects/line_items/batch/read", {"inputs": [], "properties": []}
        )
        return int(read.headers["X-HubSpot-RateLimit-Remaining"])

    before = remaining()
    for _ in range(5):
        keyed_api.search("line_items", {})

    assert remaining() == before - 1


def test_it_takes_the_search_limit_from_config(frozen_clock, keyed_api):
    keyed_api.post("/_sandbox/config", {"rate_limit": {"search_per_second": 1}})

    answers = [keyed_api.search("line_items", {}) for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 429]


# search_lag


def test_search_lag_hides_new_records_from_search_only(
    frozen_clock, keyed_api, sandbox
):
    sandbox.configure(quirks={"search_lag": 3})
    (line_id,) = keyed_api.create_line_items({"tally_line_key": "L1"})
    by_key = _where(_eq("tally_line_key", "L1"))

    hidden = keyed_api.search("line_items", by_key)
    read = keyed_api.post(
        "/crm/v3/objects/line_items/batch/read",
        {"inputs": [{"id": line_id}], "properties": []},
    )
    frozen_clock.advance(2.999)
    still_hidden = keyed_api.search("line_items", by_key)
    frozen_clock.advance(0.001)
    shown = keyed_api.search("line_items", by_key)

    assert hidden.json() == {"total": 0, "results": []}
    assert [r["id"] for r in read.json()["results"]] == [line_id]
    assert _found(still_hidden) == []
    assert _found(shown) == [line_id]


def test_search_lag_hides_an_updated_record_until_it_settles(
    frozen_clock, keyed_api, sandbox
):
    (line_id,) = keyed_api.create_line_items({"name": "old"})
    sandbox.configure(quirks={"search_lag": 3})
    frozen_clock.advance(5)

    keyed_api.patch(
        f"/crm/v3/objects/line_items/{line_id}", {"properties": {"name": "new"}}
    )
    during = keyed_api.search("line_items", {})
    frozen_clock.advance(3)
    after = keyed_api.search("line_items", {"properties": ["name"]})

    assert _found(during) == []
    assert [r["properties"]["name"] for r in after.json()["results"]] == ["new"]


def test_search_lag_takes_seconds_not_a_rate(sandbox):
    sandbox.configure(quirks={"search_lag": 30})

    assert sandbox.app.quirks.describe() == {"search_lag": 30.0}
    with pytest.raises(ValueError, match="seconds"):
        sandbox.configure(quirks={"search_lag": 7200})


def test_search_answers_deals_too(keyed_api):
    deal_id = keyed_api.create_deal(tally_order_key="O-1", amount="12.50")

    response = SandboxAPI(keyed_api.url).search(
        "0-3", _where(_eq("tally_order_key", "o-1"), _eq("amount", "12.5"))
    )

    (result,) = response.json()["results"]
    assert result["id"] == deal_id
    assert set(result["properties"]) == {
        "dealname",
        "amount",
        "closedate",
        "pipeline",
        "dealstage",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    }
