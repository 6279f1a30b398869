"""Property definitions: HubSpot's standard ones that Tally uses, and custom ones."""

import re
from dataclasses import asdict, dataclass
from typing import Any

from hubspot_sync.sandbox.clock import iso
from hubspot_sync.sandbox.errors import bad_request
from hubspot_sync.sandbox.kinds import DEAL, LINE_ITEM

TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
FIELD_TYPES = (
    "textarea",
    "text",
    "date",
    "file",
    "number",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "calculation_equation",
)
SYSTEM_PROPERTIES = ("createdate", "hs_lastmodifieddate", "hs_object_id")
# HubSpot allows at most 10 unique-value properties per object (api-facts §1.4).
MAX_UNIQUE_PROPERTIES = 10
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class PropertyDef:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    unique: bool = False
    read_only: bool = False
    non_negative: bool = False
    hubspot_defined: bool = True
    created_ms: int = 0

    def option_values(self) -> list[str]:
        return [value for value, _ in self.options]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [
                {"label": label, "value": value, "displayOrder": i, "hidden": False}
                for i, (value, label) in enumerate(self.options)
            ],
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only,
            "createdAt": iso(self.created_ms),
            "updatedAt": iso(self.created_ms),
            "archived": False,
        }

    def to_storage(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_storage(cls, data: dict[str, Any]) -> "PropertyDef":
        options = tuple(tuple(pair) for pair in data.pop("options", ()))
        return cls(options=options, **data)  # type: ignore[arg-type]


def _text(name: str, label: str, group: str, field_type: str = "text") -> PropertyDef:
    return PropertyDef(name, label, "string", field_type, group)


def _number(name: str, label: str, group: str, **extra: Any) -> PropertyDef:
    return PropertyDef(name, label, "number", "number", group, **extra)


def _system(group: str, label: str) -> tuple[PropertyDef, ...]:
    return (
        PropertyDef(
            "hs_object_id", "Record ID", "number", "number", group, read_only=True
        ),
        PropertyDef(
            "createdate", "Create Date", "datetime", "date", group, read_only=True
        ),
        PropertyDef(
            "hs_lastmodifieddate",
            "Last Modified Date",
            "datetime",
            "date",
            group,
            read_only=True,
        ),
        # Set by merges: the absorbed records' IDs, separated by ";" (D-OBJ, §2.3).
        PropertyDef(
            "hs_merged_object_ids",
            f"Merged {label} IDs",
            "enumeration",
            "checkbox",
            group,
            read_only=True,
        ),
    )


_DEAL_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled"),
    ("qualifiedtobuy", "Qualified To Buy"),
    ("presentationscheduled", "Presentation Scheduled"),
    ("decisionmakerboughtin", "Decision Maker Bought-In"),
    ("contractsent", "Contract Sent"),
    ("closedwon", "Closed Won"),
    ("closedlost", "Closed Lost"),
)

_DEALS = (
    _text("dealname", "Deal Name", "dealinformation"),
    _number("amount", "Amount", "dealinformation"),
    PropertyDef("closedate", "Close Date", "datetime", "date", "dealinformation"),
    PropertyDef(
        "pipeline",
        "Pipeline",
        "enumeration",
        "select",
        "dealinformation",
        options=(("default", "Sales Pipeline"),),
    ),
    PropertyDef(
        "dealstage",
        "Deal Stage",
        "enumeration",
        "radio",
        "dealinformation",
        options=_DEAL_STAGES,
    ),
    _text("deal_currency_code", "Currency", "dealinformation"),
    *_system("dealinformation", "Deal"),
)

_LINE_ITEMS = (
    _text("name", "Name", "lineiteminformation"),
    _text("description", "Description", "lineiteminformation", "textarea"),
    _text("hs_sku", "SKU", "lineiteminformation"),
    _number("quantity", "Quantity", "lineiteminformation"),
    # D-LI: "The price ... cannot be negative."
    _number("price", "Unit price", "lineiteminformation", non_negative=True),
    _number("amount", "Net price", "lineiteminformation"),
    _number("hs_position_on_quote", "Position on quote", "lineiteminformation"),
    _text("hs_line_item_currency_code", "Currency", "lineiteminformation"),
    *_system("lineiteminformation", "Line Item"),
)

STANDARD_PROPERTIES: dict[str, dict[str, PropertyDef]] = {
    DEAL.name: {p.name: p for p in _DEALS},
    LINE_ITEM.name: {p.name: p for p in _LINE_ITEMS},
}

# What reads answer when no properties are asked for (D-SEARCH defaults).
DEFAULT_READ_PROPERTIES: dict[str, tuple[str, ...]] = {
    DEAL.name: ("dealname", "amount", "closedate", "pipeline", "dealstage"),
    LINE_ITEM.name: ("quantity", "amount", "price"),
}


def parse_definition(body: Any, now: int) -> PropertyDef:
    """Build a custom property from a properties-API create body; raise ApiError if invalid."""
    if not isinstance(body, dict):
        raise bad_request("Invalid input JSON: expected an object")
    missing = [
        key
        for key in ("name", "label", "type", "fieldType", "groupName")
        if not body.get(key)
    ]
    if missing:
        raise bad_request(f"Invalid input JSON: missing required fields {missing}")
    name = str(body["name"])
    if not _NAME.match(name):
        raise bad_request(
            f"Property name {name!r} must be lower case letters, digits and _"
        )
    if body["type"] not in TYPES or body["fieldType"] not in FIELD_TYPES:
        raise bad_request(f"Invalid type/fieldType {body['type']}/{body['fieldType']}")
    definition = PropertyDef(
        name=name,
        label=str(body["label"]),
        type=body["type"],
        field_type=body["fieldType"],
        group_name=str(body["groupName"]),
        description=str(body.get("description") or ""),
        options=_parse_options(body.get("options")),
        unique=bool(body.get("hasUniqueValue")),
        hubspot_defined=False,
        created_ms=now,
    )
    if definition.type == "enumeration" and not definition.options:
        raise bad_request("An enumeration property needs at least one option")
    return definition


def _parse_options(raw: Any) -> tuple[tuple[str, str], ...]:
    if not raw:
        return ()
    if not isinstance(raw, list) or not all(
        isinstance(o, dict) and "value" in o for o in raw
    ):
        raise bad_request(
            "Invalid input JSON: options must be a list of {label, value}"
        )
    return tuple((str(o["value"]), str(o.get("label") or o["value"])) for o in raw)
