"""Control endpoints that change the sandbox's records the way people in HubSpot would:
create a record by hand, edit one, merge two records, archive one.

They answer with the record as it now is (every property), or the sandbox's
error envelope. Like every control call they need the token and do not count
against the rate limits.
"""

import re
from collections.abc import Callable
from typing import Any

from hubspot_sync.sandbox import imports
from hubspot_sync.sandbox.clock import iso, now_ms
from hubspot_sync.sandbox.errors import ApiError, InputFailure, bad_request
from hubspot_sync.sandbox.history import DEFAULT_USER_ID, changes, person
from hubspot_sync.sandbox.kinds import ObjectKind, resolve_kind
from hubspot_sync.sandbox.messages import Context, Response
from hubspot_sync.sandbox.records import render
from hubspot_sync.sandbox.store import Record, UniqueTaken
from hubspot_sync.sandbox.writes import Planner, create_one

MERGED_IDS = "hs_merged_object_ids"


def plant(ctx: Context, kind: ObjectKind) -> Response:
    """Create a record as someone in HubSpot would: validated, unique values enforced.

    ``"duplicate": true`` skips the unique check, to play a record made while
    its key property was not unique (the only way to two holders of one value).
    """
    body = _person_body(ctx)
    unique = not _flag(body, "duplicate")
    source = person(_user_id(body))
    record = create_one(ctx, kind, body, source, check_unique=unique)
    return Response(201, render(record, record.properties))


def edit(ctx: Context, kind: ObjectKind, object_id: str) -> Response:
    """Change values as a person in HubSpot's UI would (history source CRM_UI)."""
    body = _person_body(ctx)
    with ctx.store.atomic():
        record = _live(ctx, kind, object_id)
        planner = Planner(ctx, kind, person(_user_id(body)))
        try:
            plan = planner.plan(0, {"properties": body["properties"]}, record)
        except InputFailure as failure:
            raise failure.as_api_error() from None
        (updated,) = planner.apply([plan])
    return Response(200, render(updated, updated.properties))


def _person_body(ctx: Context) -> dict[str, Any]:
    body = ctx.request.json()
    if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
        raise bad_request("Invalid input JSON: the body needs a `properties` object")
    return body


def _user_id(body: dict[str, Any]) -> int:
    value = body.get("userId", DEFAULT_USER_ID)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad_request(
            "Invalid input JSON: `userId` must be a positive whole number"
        )
    return value


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise bad_request(f"Invalid input JSON: `{key}` must be true or false")
    return value


def merge(ctx: Context, kind: ObjectKind) -> Response:
    """Merge ``merged`` into ``primary``; with ``new_id`` both give way to a new ID.

    The survivor keeps the primary's values, unique ones included; the merged
    record's unique values are released (see docs/sandbox.md, "Merged records").
    """
    body = ctx.request.json()
    if not isinstance(body, dict):
        raise bad_request("Invalid input JSON: expected an object")
    primary_id, merged_id = _text_id(body, "primary"), _text_id(body, "merged")
    if primary_id == merged_id:
        raise bad_request("A record cannot be merged into itself")
    with ctx.store.atomic():
        primary, merged = (
            _live(ctx, kind, object_id) for object_id in (primary_id, merged_id)
        )
        new_id = bool(body.get("new_id"))
        survivor_id = ctx.store.allocate_ids(1)[0] if new_id else primary.id
        now = now_ms()
        survivor = _survivor(primary, merged, survivor_id, now)
        ctx.store.merge(survivor, [primary, merged], person(_user_id(body)))
        if new_id:
            ctx.store.copy_history(primary.id, survivor.id)
        changed = changes(primary.properties, survivor.properties)
        ctx.store.add_history(
            ((survivor.id, name, value) for name, value in changed),
            now,
            person(_user_id(body)),
        )
    return Response(200, render(survivor, survivor.properties))


def _survivor(primary: Record, merged: Record, survivor_id: str, now: int) -> Record:
    absorbed = {merged.id} | ({primary.id} if survivor_id != primary.id else set())
    for record in (primary, merged):
        absorbed.update(filter(None, record.properties.get(MERGED_IDS, "").split(";")))
    properties = primary.properties | {
        MERGED_IDS: ";".join(sorted(absorbed, key=int)),
        "hs_object_id": survivor_id,
        "hs_lastmodifieddate": iso(now),
    }
    return Record(survivor_id, primary.kind, properties, primary.created_ms, now)


def archive(ctx: Context, kind: ObjectKind, object_id: str) -> Response:
    with ctx.store.atomic():
        _live(ctx, kind, object_id)
        ctx.store.archive(kind, [object_id], now_ms(), person())
        record = ctx.store.get(kind, object_id, archived=True)
    assert record is not None
    return Response(200, render(record, record.properties))


def restore(ctx: Context, kind: ObjectKind, object_id: str) -> Response:
    """Bring a record back from the recycling bin, as a restore in HubSpot's UI."""
    with ctx.store.atomic():
        if ctx.store.get(kind, object_id, archived=True) is None:
            raise ApiError(
                404,
                "OBJECT_NOT_FOUND",
                f"The sandbox has no archived {kind.label} {object_id}",
            )
        try:
            ctx.store.restore(kind, [object_id], now_ms(), person())
        except UniqueTaken as taken:
            raise ApiError(
                409,
                "CONFLICT",
                f"Cannot restore {kind.label} {object_id}: {taken}",
            ) from None
        record = ctx.store.get(kind, object_id)
    assert record is not None
    return Response(200, render(record, record.properties))


def unlink(
    ctx: Context, kind: ObjectKind, object_id: str, to_kind: str, to_id: str
) -> Response:
    """Remove the association between two records, as a person in HubSpot's UI."""
    other = resolve_kind(to_kind)
    with ctx.store.atomic():
        removed = ctx.store.unlink(kind, object_id, other, to_id, person())
    if not removed:
        raise ApiError(
            404,
            "OBJECT_NOT_FOUND",
            f"The sandbox has no association between {kind.label} {object_id} "
            f"and {other.label} {to_id}",
        )
    return Response(200, {"removed": removed})


def _text_id(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad_request(f"Invalid input JSON: `{key}` must be a record ID")
    return str(value)


def _live(ctx: Context, kind: ObjectKind, object_id: str) -> Record:
    record = ctx.store.get(kind, object_id)
    if record is None:
        raise ApiError(
            404,
            "OBJECT_NOT_FOUND",
            f"The sandbox has no live {kind.label} {object_id}",
        )
    return record


def import_options(ctx: Context) -> Response:
    """Set how long an import takes from STARTED to DONE (docs/sandbox.md)."""
    body = ctx.request.json()
    seconds = body.get("processing_seconds") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise bad_request("Invalid input JSON: `processing_seconds` must be a number")
    try:
        imports.configure(ctx.store, seconds)
    except ValueError as error:
        raise bad_request(str(error)) from None
    return Response(
        200, {"processing_seconds": imports.processing_ms(ctx.store) / 1000}
    )


_T = r"(?P<kind>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
    ("POST", re.compile(rf"records/{_T}"), plant),
    ("POST", re.compile(rf"edit/{_T}/(?P<object_id>[^/]+)"), edit),
    ("POST", re.compile(rf"merge/{_T}"), merge),
    ("POST", re.compile(rf"archive/{_T}/(?P<object_id>[^/]+)"), archive),
    ("POST", re.compile(rf"restore/{_T}/(?P<object_id>[^/]+)"), restore),
    (
        "POST",
        re.compile(
            rf"unlink/{_T}/(?P<object_id>[^/]+)/(?P<to_kind>[^/]+)/(?P<to_id>[^/]+)"
        ),
        unlink,
    ),
    ("POST", re.compile(r"imports"), import_options),
]


def find(method: str, action: str) -> tuple[Callable[..., Response], dict[str, Any]]:
    """The control handler for ``action`` (the path after /_sandbox/) and its arguments."""
    for route_method, pattern, handler in ROUTES:
        match = pattern.fullmatch(action)
        if match and route_method == method:
            params: dict[str, Any] = match.groupdict()
            if "kind" in params:
                params["kind"] = resolve_kind(params["kind"])
            return handler, params
    raise ApiError(
        404,
        "OBJECT_NOT_FOUND",
        f"The sandbox has no endpoint {method} /_sandbox/{action}",
    )
