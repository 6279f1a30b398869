"""Which handler answers which method and path."""

import re
from collections.abc import Callable
from typing import Any

from hubspot_sync.sandbox import associations, objects, properties_api, writes
from hubspot_sync.sandbox.batch import BatchOutcome
from hubspot_sync.sandbox.errors import ApiError
from hubspot_sync.sandbox.kinds import resolve_kind
from hubspot_sync.sandbox.messages import Context, Response

Handler = Callable[..., Response | BatchOutcome]

_T = r"(?P<kind>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("POST", re.compile(rf"/crm/v3/objects/{_T}/batch/create"), writes.create),
    ("POST", re.compile(rf"/crm/v3/objects/{_T}/batch/read"), objects.batch_read),
    ("POST", re.compile(rf"/crm/v3/objects/{_T}/batch/update"), writes.update),
    ("POST", re.compile(rf"/crm/v3/objects/{_T}/batch/upsert"), writes.upsert),
    ("POST", re.compile(rf"/crm/v3/objects/{_T}/batch/archive"), objects.batch_archive),
    ("GET", re.compile(rf"/crm/v3/objects/{_T}"), objects.list_objects),
    ("GET", re.compile(rf"/crm/v3/objects/{_T}/(?P<object_id>[^/]+)"), objects.get_one),
    (
        "PATCH",
        re.compile(rf"/crm/v3/objects/{_T}/(?P<object_id>[^/]+)"),
        objects.patch_one,
    ),
    (
        "DELETE",
        re.compile(rf"/crm/v3/objects/{_T}/(?P<object_id>[^/]+)"),
        objects.delete_one,
    ),
    ("GET", re.compile(rf"/crm/v3/properties/{_T}"), properties_api.list_properties),
    ("POST", re.compile(rf"/crm/v3/properties/{_T}"), properties_api.create_property),
    (
        "GET",
        re.compile(rf"/crm/v3/properties/{_T}/(?P<name>[^/]+)"),
        properties_api.get_property,
    ),
    (
        "POST",
        re.compile(
            r"/crm/v4/associations/(?P<from_kind>[^/]+)/(?P<to_kind>[^/]+)/batch/create"
        ),
        associations.create,
    ),
    (
        "POST",
        re.compile(
            r"/crm/v4/associations/(?P<from_kind>[^/]+)/(?P<to_kind>[^/]+)/batch/read"
        ),
        associations.read,
    ),
]


def find_route(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    """The handler and path parameters; raise ApiError 404 or 405 when none fits."""
    path_known = False
    for route_method, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return handler, match.groupdict()
        path_known = path_known or bool(match)
    if path_known:
        raise ApiError(
            405, "VALIDATION_ERROR", f"The sandbox does not serve {method} {path}"
        )
    raise ApiError(
        404, "OBJECT_NOT_FOUND", f"The sandbox has no endpoint {method} {path}"
    )


def call(
    handler: Handler, ctx: Context, params: dict[str, str]
) -> Response | BatchOutcome:
    arguments: dict[str, Any] = {}
    for key, value in params.items():
        arguments[key] = resolve_kind(value) if key.endswith("kind") else value
    return handler(ctx, **arguments)
