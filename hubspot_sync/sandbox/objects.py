"""CRM v3 object endpoints other than the batch writes: batch read and archive,
single get, update and delete, and the paged list."""

from typing import Any
from urllib.parse import urlencode

from hubspot_sync.sandbox.batch import BatchOutcome, batch_inputs, input_id
from hubspot_sync.sandbox.clock import now_ms
from hubspot_sync.sandbox.errors import (
    ApiError,
    bad_request,
    error_item,
    not_found_message,
)
from hubspot_sync.sandbox.history import MAX_HISTORY_INPUTS
from hubspot_sync.sandbox.kinds import ObjectKind
from hubspot_sync.sandbox.lookup import check_id_property, find_records
from hubspot_sync.sandbox.messages import Context, Response
from hubspot_sync.sandbox.records import render_read
from hubspot_sync.sandbox.store import Record
from hubspot_sync.sandbox.writes import update_one

DEFAULT_PAGE = 10
MAX_PAGE = 100


def batch_read(ctx: Context, kind: ObjectKind) -> BatchOutcome:
    body = ctx.request.json()
    inputs = batch_inputs(body)
    with_history = _names(body.get("propertiesWithHistory"))
    if with_history and len(inputs) > MAX_HISTORY_INPUTS:
        # HubSpot's words, as quoted in api-facts §1.4.
        raise bad_request(
            "The maximum number of inputs supported in a batch request for property "
            f"histories is {MAX_HISTORY_INPUTS}. Please reduce the number of items "
            "and try again"
        )
    id_property = body.get("idProperty") or None
    if id_property:
        check_id_property(ctx, kind, id_property)
    requested = _names(body.get("properties"))

    ids = list(dict.fromkeys(input_id(item) for item in inputs))
    found = find_records(
        ctx,
        kind,
        [(i, id_property) for i in ids],
        archived=ctx.request.flag("archived"),
        follow_merges=True,
    )
    # A merged-away ID reads as the record that absorbed it; asked for twice
    # that way, the record is answered once.
    records = {r.id: r for i in ids if (r := found.get((i, id_property)))}
    definitions = ctx.store.definitions(kind)
    outcome = BatchOutcome("read", kind.name, 200)
    outcome.results = _with_history(
        ctx,
        definitions,
        [render_read(record, requested, definitions) for record in records.values()],
        with_history,
    )
    missing = [i for i in ids if (i, id_property) not in found]
    if missing:
        # One item lists every missing ID (api-facts §2.2).
        outcome.errors = [
            error_item(
                "OBJECT_NOT_FOUND", not_found_message(kind.label), {"ids": missing}
            )
        ]
    return outcome


def _names(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request("Invalid input JSON: `properties` must be a list of names")
    return [str(name) for name in raw]


def _with_history(
    ctx: Context,
    definitions: Any,
    bodies: list[dict[str, Any]],
    names: list[str],
) -> list[dict[str, Any]]:
    """Add ``propertiesWithHistory`` (defined names only, newest first) to each."""
    names = [name for name in names if name in definitions]
    if not names:
        return bodies
    history = ctx.store.history([body["id"] for body in bodies], names)
    for body in bodies:
        versions = history.get(body["id"], {})
        body["propertiesWithHistory"] = {
            name: [v.render() for v in versions.get(name, [])] for name in names
        }
    return bodies


def batch_archive(ctx: Context, kind: ObjectKind) -> Response:
    inputs = batch_inputs(ctx.request.json())
    ctx.store.archive(kind, [input_id(item) for item in inputs], now_ms())
    return Response(204)


def get_one(ctx: Context, kind: ObjectKind, object_id: str) -> Response:
    record = _one(ctx, kind, object_id, archived=ctx.request.flag("archived"))
    requested = ctx.request.param_list("properties")
    definitions = ctx.store.definitions(kind)
    (body,) = _with_history(
        ctx,
        definitions,
        [render_read(record, requested, definitions)],
        ctx.request.param_list("propertiesWithHistory"),
    )
    return Response(200, body)


def patch_one(ctx: Context, kind: ObjectKind, object_id: str) -> Response:
    record = _one(ctx, kind, object_id)
    return Response(200, update_one(ctx, kind, record, ctx.request.json()))


def delete_one(ctx: Context, kind: ObjectKind, object_id: str) -> Response:
    # Deleting an unknown ID answers 204 as well (api-facts §2.4); a merged-away
    # ID archives the record that absorbed it, as the other single calls follow it.
    object_id = ctx.store.survivors(kind, [object_id]).get(object_id, object_id)
    ctx.store.archive(kind, [object_id], now_ms())
    return Response(204)


def _one(
    ctx: Context, kind: ObjectKind, object_id: str, archived: bool = False
) -> Record:
    id_property = ctx.request.param("idProperty")
    if id_property:
        check_id_property(ctx, kind, id_property)
    key = (object_id, id_property or None)
    found = find_records(ctx, kind, [key], archived=archived, follow_merges=True)
    record = found.get(key)
    if record is None:
        # The exact text, two spaces included, of HubSpot's 404 (api-facts §2.4).
        raise ApiError(
            404,
            "OBJECT_NOT_FOUND",
            "Object not found.  objectId are usually numeric.",
            context={"id": [object_id]},
        )
    return record


def list_objects(ctx: Context, kind: ObjectKind) -> Response:
    limit = _int_param(ctx, "limit", DEFAULT_PAGE)
    after = _int_param(ctx, "after", 0)
    limit = max(1, min(limit, MAX_PAGE))
    records = ctx.store.page(
        kind, after=after, limit=limit + 1, archived=ctx.request.flag("archived")
    )
    requested = ctx.request.param_list("properties")
    definitions = ctx.store.definitions(kind)
    results = [render_read(r, requested, definitions) for r in records[:limit]]
    with_history = ctx.request.param_list("propertiesWithHistory")
    body: dict[str, Any] = {
        "results": _with_history(ctx, definitions, results, with_history)
    }
    if len(records) > limit:
        body["paging"] = {"next": _next_page(ctx, kind, limit, records[limit].id)}
    return Response(200, body)


def _next_page(
    ctx: Context, kind: ObjectKind, limit: int, after: str
) -> dict[str, str]:
    query = {"limit": str(limit), "after": after}
    for name in ("properties", "propertiesWithHistory"):
        if ctx.request.param(name):
            query[name] = ",".join(ctx.request.param_list(name))
    link = f"{ctx.request.base_url}/crm/v3/objects/{kind.name}?{urlencode(query)}"
    return {"after": after, "link": link}


def _int_param(ctx: Context, name: str, default: int) -> int:
    text = ctx.request.param(name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise bad_request(f"{name} must be a whole number, got {text!r}")
    return int(text)
