"""HubSpot's own Python client, with its checks on, as a second opinion on the sandbox's shapes."""

import types

import pytest
from hubspot.crm import deals, line_items
from hubspot.crm.associations import v4

from tests.hubspot_sync.conftest import SANDBOX_TOKEN

# Each object API package is generated separately, with its own models and configuration.
OBJECT_APIS = [
    pytest.param(
        line_items,
        "line_items",
        {"name": "Blue widget", "quantity": "2", "price": "19.99"},
        "tally_line_key",
        id="line_items",
    ),
    pytest.param(
        deals,
        "deals",
        {"dealname": "Order 1001", "dealstage": "closedwon"},
        "tally_order_key",
        id="deals",
    ),
]


def _batch_api(package: types.ModuleType, url: str):
    cfg = package.Configuration(host=url)
    cfg.access_token = SANDBOX_TOKEN
    cfg.client_side_validation = True
    return package.BatchApi(package.ApiClient(configuration=cfg))


def _create(package: types.ModuleType, api, properties: dict):
    inputs = [
        package.SimplePublicObjectBatchInputForCreate(
            properties=properties, associations=[]
        )
    ]
    return api.create(
        package.BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
    )


@pytest.mark.parametrize(("package", "kind", "properties", "key"), OBJECT_APIS)
def test_the_official_client_parses_batch_create(
    keyed_api, package, kind, properties, key
):
    api = _batch_api(package, keyed_api.url)

    answer = _create(package, api, properties)

    assert isinstance(answer, package.BatchResponseSimplePublicObject)
    assert answer.status == "COMPLETE"
    assert answer.started_at is not None and answer.completed_at is not None
    (result,) = answer.results
    assert result.id.isdigit()
    assert result.created_at is not None and result.updated_at is not None
    assert result.archived is False
    assert {k: result.properties[k] for k in properties} == properties
    assert result.properties["hs_object_id"] == result.id


@pytest.mark.parametrize(("package", "kind", "properties", "key"), OBJECT_APIS)
def test_the_official_client_parses_a_batch_read_with_missing_ids(
    keyed_api, package, kind, properties, key
):
    api = _batch_api(package, keyed_api.url)
    (created,) = _create(package, api, properties).results
    ids = [package.SimplePublicObjectId(id=i) for i in (created.id, "1", "2")]

    answer = api.read(
        package.BatchReadInputSimplePublicObjectId(
            inputs=ids, properties=list(properties), properties_with_history=[]
        )
    )

    assert isinstance(answer, package.BatchResponseSimplePublicObjectWithErrors)
    assert [r.id for r in answer.results] == [created.id]
    assert answer.num_errors == 1
    (error,) = answer.errors
    assert (error.status, error.category) == ("error", "OBJECT_NOT_FOUND")
    assert error.context == {"ids": ["1", "2"]}
    assert error.message.startswith("Could not get some ")
    assert (error.errors, error.links) == ([], {})


@pytest.mark.parametrize(("package", "kind", "properties", "key"), OBJECT_APIS)
def test_the_official_client_parses_batch_update(
    keyed_api, package, kind, properties, key
):
    api = _batch_api(package, keyed_api.url)
    (created,) = _create(package, api, properties).results
    name = "name" if kind == "line_items" else "dealname"
    inputs = [
        package.SimplePublicObjectBatchInput(
            id=created.id, properties={name: "Changed"}
        )
    ]

    answer = api.update(package.BatchInputSimplePublicObjectBatchInput(inputs=inputs))

    assert isinstance(answer, package.BatchResponseSimplePublicObject)
    (result,) = answer.results
    assert (result.id, result.properties[name]) == (created.id, "Changed")


@pytest.mark.parametrize(("package", "kind", "properties", "key"), OBJECT_APIS)
def test_the_official_client_parses_a_partial_batch_update(
    keyed_api, package, kind, properties, key
):
    api = _batch_api(package, keyed_api.url)
    inputs = [
        package.SimplePublicObjectBatchInput(
            id="999", properties={}, object_write_trace_id="t-999"
        )
    ]

    answer = api.update(package.BatchInputSimplePublicObjectBatchInput(inputs=inputs))

    assert isinstance(answer, package.BatchResponseSimplePublicObjectWithErrors)
    assert answer.errors[0].context == {"ids": ["999"], "objectWriteTraceId": ["t-999"]}


@pytest.mark.parametrize(("package", "kind", "properties", "key"), OBJECT_APIS)
def test_the_official_client_parses_batch_upsert(
    keyed_api, package, kind, properties, key
):
    api = _batch_api(package, keyed_api.url)

    def upsert():
        inputs = [
            package.SimplePublicObjectBatchInputUpsert(
                id="K-1", id_property=key, properties=properties
            )
        ]
        return api.upsert(
            package.BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
        )

    first, second = upsert(), upsert()

    assert isinstance(first, package.BatchResponseSimplePublicUpsertObject)
    (created,), (updated,) = first.results, second.results
    assert (created.new, updated.new) == (True, False)
    assert created.id == updated.id
    assert created.properties[key] == "K-1"


@pytest.mark.parametrize(("package", "kind", "properties", "key"), OBJECT_APIS)
def test_the_official_client_parses_a_traced_207_create(
    keyed_api, package, kind, properties, key
):
    api = _batch_api(package, keyed_api.url)
    inputs = [
        package.SimplePublicObjectBatchInputForCreate(
            properties=properties, associations=[], object_write_trace_id="ok"
        ),
        package.SimplePublicObjectBatchInputForCreate(
            properties={"nope": "1"}, associations=[], object_write_trace_id="bad"
        ),
    ]

    answer = api.create(
        package.BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
    )

    assert isinstance(answer, package.BatchResponseSimplePublicObjectWithErrors)
    assert len(answer.results) == 1
    (error,) = answer.errors
    assert error.context == {"objectWriteTraceId": ["bad"]}
    assert (error.errors[0].code, error.errors[0].context) == (
        "PROPERTY_DOESNT_EXIST",
        {"propertyName": ["nope"]},
    )


def test_the_official_client_parses_a_whole_batch_rejection(keyed_api):
    api = _batch_api(line_items, keyed_api.url)

    with pytest.raises(line_items.ApiException) as raised:
        _create(line_items, api, {"nope": "1"})

    assert raised.value.status == 400
    error = api.api_client.deserialize(
        types.SimpleNamespace(data=raised.value.body), "Error"
    )
    assert (error.category, error.errors[0].code) == (
        "VALIDATION_ERROR",
        "PROPERTY_DOESNT_EXIST",
    )
    assert error.correlation_id == raised.value.headers["X-HubSpot-Correlation-Id"]


def test_the_official_client_parses_association_batch_create(keyed_api):
    deal_id = keyed_api.create_deal()
    (line_id,) = keyed_api.create_line_items({"name": "a"})
    cfg = v4.Configuration(host=keyed_api.url)
    cfg.access_token = SANDBOX_TOKEN
    cfg.client_side_validation = True
    api = v4.BatchApi(v4.ApiClient(configuration=cfg))
    spec = v4.AssociationSpec(
        association_category="HUBSPOT_DEFINED", association_type_id=20
    )
    inputs = [
        v4.PublicAssociationMultiPost(
            _from=v4.PublicObjectId(id=line_id),
            to=v4.PublicObjectId(id=deal_id),
            types=[spec],
        )
    ]

    answer = api.create(
        "line_items", "deals", v4.BatchInputPublicAssociationMultiPost(inputs=inputs)
    )

    assert isinstance(answer, v4.BatchResponseLabelsBetweenObjectPair)
    (result,) = answer.results
    assert (result.from_object_type_id, result.from_object_id) == ("0-8", line_id)
    assert (result.to_object_type_id, result.to_object_id) == ("0-3", deal_id)
    assert result.labels == []


def test_the_official_client_parses_association_batch_read(keyed_api):
    deal_id = keyed_api.create_deal()
    (line_id,) = keyed_api.create_line_items({"name": "a"})
    cfg = v4.Configuration(host=keyed_api.url)
    cfg.access_token = SANDBOX_TOKEN
    cfg.client_side_validation = True
    api = v4.BatchApi(v4.ApiClient(configuration=cfg))
    spec = v4.AssociationSpec(
        association_category="HUBSPOT_DEFINED", association_type_id=20
    )
    post = v4.PublicAssociationMultiPost(
        _from=v4.PublicObjectId(id=line_id),
        to=v4.PublicObjectId(id=deal_id),
        types=[spec],
    )
    api.create(
        "line_items", "deals", v4.BatchInputPublicAssociationMultiPost(inputs=[post])
    )
    request = v4.PublicFetchAssociationsBatchRequest(id=deal_id)

    answer = api.get_page(
        "deals",
        "line_items",
        v4.BatchInputPublicFetchAssociationsBatchRequest(inputs=[request]),
    )

    (result,) = answer.results
    assert result._from.id == deal_id
    assert [(t.to_object_id, t.association_types[0].type_id) for t in result.to] == [
        (line_id, 19)
    ]


def _api(package: types.ModuleType, name: str, url: str):
    cfg = package.Configuration(host=url)
    cfg.access_token = SANDBOX_TOKEN
    cfg.client_side_validation = True
    return getattr(package, name)(package.ApiClient(configuration=cfg))


@pytest.mark.parametrize(("package", "kind", "properties", "key"), OBJECT_APIS)
def test_the_official_client_parses_a_search(keyed_api, package, kind, properties, key):
    batch = _batch_api(package, keyed_api.url)
    for _ in range(3):
        _create(package, batch, properties)
    search = _api(package, "SearchApi", keyed_api.url)
    name = next(iter(properties))
    request = package.PublicObjectSearchRequest(
        filter_groups=[
            package.FilterGroup(
                filters=[
                    package.Filter(
                        property_name=name,
                        operator="EQ",
                        value=properties[name].lower(),
                    )
                ]
            )
        ],
        properties=[name],
        limit=2,
    )

    answer = search.do_search(request)

    assert isinstance(
        answer, package.CollectionResponseWithTotalSimplePublicObjectForwardPaging
    )
    assert answer.total == 3
    assert [r.properties[name] for r in answer.results] == [properties[name]] * 2
    assert answer.paging.next.after == "2"
    assert answer.results[0].created_at is not None


def test_the_official_client_raises_on_a_whole_batch_rejection_of_traced_inputs(
    keyed_api, sandbox
):
    sandbox.configure(quirks={"reject_whole_batch": True})
    api = _batch_api(line_items, keyed_api.url)
    inputs = [
        line_items.SimplePublicObjectBatchInputForCreate(
            properties={"name": "good"}, associations=[], object_write_trace_id="ok"
        ),
        line_items.SimplePublicObjectBatchInputForCreate(
            properties={"quantity": "two"}, associations=[], object_write_trace_id="bad"
        ),
    ]

    with pytest.raises(line_items.ApiException) as raised:
        api.create(
            line_items.BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
        )

    assert raised.value.status == 400
    error = api.api_client.deserialize(
        types.SimpleNamespace(data=raised.value.body), "Error"
    )
    assert error.category == "VALIDATION_ERROR"
    (detail,) = error.errors
    assert (detail.code, detail.context) == (
        "INVALID_INTEGER",
        {"propertyName": ["quantity"]},
    )
    assert sandbox.store.count("line_items") == 0


@pytest.mark.parametrize(("package", "kind", "properties", "key"), OBJECT_APIS)
def test_the_official_client_reads_a_merged_away_id_as_the_survivor(
    keyed_api, package, kind, properties, key
):
    batch = _batch_api(package, keyed_api.url)
    (primary,) = _create(package, batch, properties).results
    (loser,) = _create(package, batch, properties).results
    keyed_api.merge(kind, primary.id, loser.id)
    basic = _api(package, "BasicApi", keyed_api.url)

    single = basic.get_by_id(loser.id, properties=["hs_merged_object_ids"])
    many = batch.read(
        package.BatchReadInputSimplePublicObjectId(
            inputs=[package.SimplePublicObjectId(id=loser.id)],
            properties=["hs_merged_object_ids"],
            properties_with_history=[],
        )
    )

    assert isinstance(single, package.SimplePublicObjectWithAssociations)
    assert single.id == primary.id
    assert single.properties["hs_merged_object_ids"] == loser.id
    assert isinstance(many, package.BatchResponseSimplePublicObject)
    assert [r.id for r in many.results] == [primary.id]
