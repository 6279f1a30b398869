"""CRM v3 properties endpoints: list, read one, create."""

from dataclasses import replace

from hubspot_sync.sandbox.clock import now_ms
from hubspot_sync.sandbox.errors import ApiError, bad_request
from hubspot_sync.sandbox.kinds import LINE_ITEM, ObjectKind
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
    if definition.unique and kind is LINE_ITEM and not ctx.unique_line_items:
        # The no_unique_line_items quirk: the portal creates the property but
        # drops hasUniqueValue, which only a read-back shows (open question 19).
        definition = replace(definition, unique=False)
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
