"""CRM v3 properties endpoints: list, read one, create."""

from hubspot_sync.sandbox.clock import now_ms
from hubspot_sync.sandbox.errors import ApiError, bad_request
from hubspot_sync.sandbox.kinds import ObjectKind
from hubspot_sync.sandbox.messages import Context, Response
from hubspot_sync.sandbox.schema import MAX_UNIQUE_PROPERTIES, parse_definition


def list_properties(ctx: Context, kind: ObjectKind) -> Response:
    definitions = ctx.store.definitions(kind).values()
    return Response(200, {"results": [d.as_json() for d in definitions]})


def get_property(ctx: Context, kind: ObjectKind, name: str) -> Response:
    definition = ctx.store.definitions(kind).get(name)
    if definition is None:
        raise ApiError(404, "OBJECT_NOT_FOUND", f'Property "{name}" does not exist')
    return Response(200, definition.as_json())


def create_property(ctx: Context, kind: ObjectKind) -> Response:
    definition = parse_definition(ctx.request.json(), now_ms())
    with ctx.store.atomic():
        existing = ctx.store.definitions(kind)
        if definition.name in existing:
            raise ApiError(
                409,
                "OBJECT_ALREADY_EXISTS",
                f"A property named '{definition.name}' already exists.",
            )
        if (
            definition.unique
            and sum(d.unique for d in existing.values()) >= MAX_UNIQUE_PROPERTIES
        ):
            raise bad_request(
                f"An object can have at most {MAX_UNIQUE_PROPERTIES} unique-value properties"
            )
        ctx.store.add_definition(kind, definition)
    return Response(201, definition.as_json())
