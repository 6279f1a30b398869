"""CRM v4 association batch endpoints between line items and deals."""

from typing import Any

from hubspot_sync.sandbox.batch import BatchOutcome, batch_inputs, input_id
from hubspot_sync.sandbox.errors import bad_request, error_item, not_found_message
from hubspot_sync.sandbox.kinds import ASSOCIATION_TYPES, HUBSPOT_DEFINED, ObjectKind
from hubspot_sync.sandbox.messages import Context
from hubspot_sync.sandbox.store import Link

# D-ASSOC: batch create takes up to 2,000 inputs, batch read up to 1,000.
MAX_CREATE_INPUTS = 2000
MAX_READ_INPUTS = 1000


def _type_id(from_kind: ObjectKind, to_kind: ObjectKind) -> int:
    type_id = ASSOCIATION_TYPES.get((from_kind, to_kind))
    if type_id is None:
        raise bad_request(
            f"The sandbox has no associations from {from_kind.label} to {to_kind.label}"
        )
    return type_id


def create(ctx: Context, from_kind: ObjectKind, to_kind: ObjectKind) -> BatchOutcome:
    type_id = _type_id(from_kind, to_kind)
    pairs = [
        _pair(item, type_id)
        for item in batch_inputs(ctx.request.json(), MAX_CREATE_INPUTS)
    ]
    outcome = BatchOutcome("associate", from_kind.name, 201)
    if not ctx.link_associations:
        # The association_empty quirk: COMPLETE, nothing linked, nothing said.
        return outcome
    with ctx.store.atomic():
        known_from = ctx.store.get_many(from_kind, [f for f, _ in pairs])
        known_to = ctx.store.get_many(to_kind, [t for _, t in pairs])
        good = [(f, t) for f, t in pairs if f in known_from and t in known_to]
        inverse = ASSOCIATION_TYPES[(to_kind, from_kind)]
        ctx.store.link(
            Link(f, to_kind.name, t, HUBSPOT_DEFINED, type_id) for f, t in good
        )
        ctx.store.link(
            Link(t, from_kind.name, f, HUBSPOT_DEFINED, inverse) for f, t in good
        )
    outcome.results = [_labels(from_kind, f, to_kind, t) for f, t in good]
    outcome.errors = [
        *_missing(from_kind, [f for f, _ in pairs if f not in known_from]),
        *_missing(to_kind, [t for _, t in pairs if t not in known_to]),
    ]
    return outcome


def _pair(item: dict[str, Any], type_id: int) -> tuple[str, str]:
    try:
        from_id, to_id = str(item["from"]["id"]), str(item["to"]["id"])
        types = [
            (t["associationCategory"], int(t["associationTypeId"]))
            for t in item["types"]
        ]
    except (KeyError, TypeError, ValueError):
        raise bad_request(
            "Invalid input JSON: inputs need `from.id`, `to.id` and `types`"
        ) from None
    if types != [(HUBSPOT_DEFINED, type_id)]:
        raise bad_request(
            f"The sandbox supports only the {HUBSPOT_DEFINED} association type {type_id} here, got {types}"
        )
    return from_id, to_id


def _labels(
    from_kind: ObjectKind, from_id: str, to_kind: ObjectKind, to_id: str
) -> dict[str, Any]:
    # SPEC and the official client type these IDs as strings; the docs example
    # shows numbers (api-facts §5).
    return {
        "fromObjectTypeId": from_kind.type_id,
        "fromObjectId": from_id,
        "toObjectTypeId": to_kind.type_id,
        "toObjectId": to_id,
        "labels": [],
    }


def _missing(kind: ObjectKind, ids: list[str]) -> list[dict[str, Any]]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    return [error_item("OBJECT_NOT_FOUND", not_found_message(kind.label), {"ids": ids})]


def read(ctx: Context, from_kind: ObjectKind, to_kind: ObjectKind) -> BatchOutcome:
    _type_id(from_kind, to_kind)
    ids = list(
        dict.fromkeys(
            input_id(item) for item in batch_inputs(ctx.request.json(), MAX_READ_INPUTS)
        )
    )
    outcome = BatchOutcome("read_associations", from_kind.name, 200)
    with ctx.store.atomic():
        known = ctx.store.get_many(from_kind, ids)
        links = ctx.store.links_from([i for i in ids if i in known], to_kind)
    outcome.results = [_associated(i, links[i]) for i in ids if i in known]
    outcome.errors = _missing(from_kind, [i for i in ids if i not in known])
    return outcome


def _associated(from_id: str, links: list[Link]) -> dict[str, Any]:
    return {
        "from": {"id": from_id},
        "to": [
            {
                "toObjectId": link.to_id,
                "associationTypes": [
                    {"category": link.category, "typeId": link.type_id, "label": None}
                ],
            }
            for link in links
        ],
    }
