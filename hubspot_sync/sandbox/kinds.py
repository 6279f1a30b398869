"""The CRM object types the sandbox serves, and the names paths may use for them."""

from dataclasses import dataclass

from hubspot_sync.sandbox.errors import ApiError


@dataclass(frozen=True)
class ObjectKind:
    name: str  # the plural path name, also the storage key
    type_id: str  # HubSpot's object type ID (D-OBJ)
    label: str  # as HubSpot names it in messages: "LINE_ITEM"


DEAL = ObjectKind("deals", "0-3", "DEAL")
LINE_ITEM = ObjectKind("line_items", "0-8", "LINE_ITEM")

_ALIASES = {
    "deals": DEAL,
    "deal": DEAL,
    "0-3": DEAL,
    "line_items": LINE_ITEM,
    "line_item": LINE_ITEM,
    "lineitems": LINE_ITEM,
    "0-8": LINE_ITEM,
}

# HUBSPOT_DEFINED association type IDs (D-ASSOC), keyed by (from, to).
ASSOCIATION_TYPES = {(LINE_ITEM, DEAL): 20, (DEAL, LINE_ITEM): 19}
HUBSPOT_DEFINED = "HUBSPOT_DEFINED"


def find_kind(text: "str | ObjectKind") -> ObjectKind | None:
    if isinstance(text, ObjectKind):
        return text
    return _ALIASES.get(text.lower())


def resolve_kind(text: str) -> ObjectKind:
    kind = find_kind(text)
    if kind is None:
        raise ApiError(
            400, "VALIDATION_ERROR", f"Unable to infer object type from: {text}"
        )
    return kind
