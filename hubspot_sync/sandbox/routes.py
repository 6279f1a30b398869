"""Which handler answers which method and path, and what the operation is called."""

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from hubspot_sync.sandbox import (
    associations,
    imports,
    objects,
    properties_api,
    search,
    writes,
)
from hubspot_sync.sandbox.batch import BatchOutcome
from hubspot_sync.sandbox.errors import ApiError
from hubspot_sync.sandbox.kinds import resolve_kind
from hubspot_sync.sandbox.messages import Context, Response

Handler = Callable[..., Response | BatchOutcome]


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    operation: str  # what quirks key on: "create", "search", "associate", …


_T = r"(?P<kind>[^/]+)"
_ID = r"(?P<object_id>[^/]+)"
_PAIR = r"(?P<from_kind>[^/]+)/(?P<to_kind>[^/]+)"
_IMPORT = r"/crm/v3/imports/(?P<import_id>[^/]+)"


def _route(method: str, path: str, handler: Handler, operation: str) -> Route:
    return Route(method, re.compile(path), handler, operation)


ROUTES = [
    _route("POST", rf"/crm/v3/objects/{_T}/batch/create", writes.create, "create"),
    _route("POST", rf"/crm/v3/objects/{_T}/batch/read", objects.batch_read, "read"),
    _route("POST", rf"/crm/v3/objects/{_T}/batch/update", writes.update, "update"),
    _route("POST", rf"/crm/v3/objects/{_T}/batch/upsert", writes.upsert, "upsert"),
    _route(
        "POST", rf"/crm/v3/objects/{_T}/batch/archive", objects.batch_archive, "archive"
    ),
    _route("POST", rf"/crm/v3/objects/{_T}/search", search.search, "search"),
    _route("GET", rf"/crm/v3/objects/{_T}", objects.list_objects, "list"),
    _route("GET", rf"/crm/v3/objects/{_T}/{_ID}", objects.get_one, "get"),
    _route("PATCH", rf"/crm/v3/objects/{_T}/{_ID}", objects.patch_one, "patch"),
    _route("DELETE", rf"/crm/v3/objects/{_T}/{_ID}", objects.delete_one, "delete"),
    _route(
        "GET", rf"/crm/v3/properties/{_T}", properties_api.list_properties, "properties"
    ),
    _route(
        "POST",
        rf"/crm/v3/properties/{_T}",
        properties_api.create_property,
        "create_property",
    ),
    _route(
        "GET",
        rf"/crm/v3/properties/{_T}/(?P<name>[^/]+)",
        properties_api.get_property,
        "property",
    ),
    _route(
        "POST",
        rf"/crm/v4/associations/{_PAIR}/batch/create",
        associations.create,
        "associate",
    ),
    _route(
        "POST",
        rf"/crm/v4/associations/{_PAIR}/batch/read",
        associations.read,
        "read_associations",
    ),
    _route("POST", r"/crm/v3/imports", imports.start, "start_import"),
    _route("GET", r"/crm/v3/imports", imports.list_imports, "list_imports"),
    _route("GET", _IMPORT, imports.get_one, "get_import"),
    _route("POST", rf"{_IMPORT}/cancel", imports.cancel, "cancel_import"),
    _route("GET", rf"{_IMPORT}/errors", imports.errors, "import_errors"),
]

# The operations that change what HubSpot holds.
WRITES = frozenset(
    {
        "create",
        "update",
        "upsert",
        "archive",
        "patch",
        "delete",
        "create_property",
        "associate",
    }
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route and path parameters; raise ApiError 404 or 405 when none fits."""
    path_known = False
    for route in ROUTES:
        match = route.pattern.fullmatch(path)
        if match and route.method == method:
            return route, match.groupdict()
        path_known = path_known or bool(match)
    if path_known:
        raise ApiError(
            405, "VALIDATION_ERROR", f"The sandbox does not serve {method} {path}"
        )
    raise ApiError(
        404, "OBJECT_NOT_FOUND", f"The sandbox has no endpoint {method} {path}"
    )


_SEARCH = re.compile(rf"/crm/v3/objects/{_T}/search")


def is_search(method: str, path: str) -> bool:
    """Search has its own rate limit (api-facts §4), so the app must know before routing."""
    return method == "POST" and bool(_SEARCH.fullmatch(path))


def call(
    handler: Handler, ctx: Context, params: dict[str, str]
) -> Response | BatchOutcome:
    arguments: dict[str, Any] = {}
    for key, value in params.items():
        arguments[key] = resolve_kind(value) if key.endswith("kind") else value
    return handler(ctx, **arguments)
