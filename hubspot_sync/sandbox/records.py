"""How records look in answers: HubSpot's ``SimplePublicObject``."""

from collections.abc import Iterable, Mapping
from typing import Any

from hubspot_sync.sandbox.clock import iso
from hubspot_sync.sandbox.schema import (
    DEFAULT_READ_PROPERTIES,
    SYSTEM_PROPERTIES,
    PropertyDef,
)
from hubspot_sync.sandbox.store import Record


def render(record: Record, properties: Mapping[str, str | None]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": record.id,
        "properties": dict(properties),
        "createdAt": iso(record.created_ms),
        "updatedAt": iso(record.updated_ms),
        "archived": record.archived,
    }
    if record.archived_ms is not None:
        body["archivedAt"] = iso(record.archived_ms)
    return body


def render_read(
    record: Record, requested: Iterable[str], definitions: Mapping[str, PropertyDef]
) -> dict[str, Any]:
    """A record as reads answer it.

    Defined properties without a value come back as null (D-LI, D-DEAL; D-OBJ
    says they are left out instead); names that are not defined are ignored.
    """
    names = list(requested) or list(DEFAULT_READ_PROPERTIES[record.kind])
    wanted = [
        n for n in dict.fromkeys([*names, *SYSTEM_PROPERTIES]) if n in definitions
    ]
    return render(record, {name: record.properties.get(name) for name in wanted})


def render_write(record: Record, written: Iterable[str] | None) -> dict[str, Any]:
    """A record as write results echo it.

    A created record shows every value it holds (the D-ERR create example); an
    updated one shows what was written plus the system properties and any value
    the sandbox derived from it.
    """
    if written is None:
        return render(record, record.properties)
    names = dict.fromkeys([*written, *_derived(record, written), *SYSTEM_PROPERTIES])
    return render(record, {name: record.properties.get(name, "") for name in names})


def _derived(record: Record, written: Iterable[str]) -> list[str]:
    if record.kind == "line_items" and {"quantity", "price"} & set(written):
        return ["amount"]
    return []
