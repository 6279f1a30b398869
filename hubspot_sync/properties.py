"""The custom HubSpot properties Tally writes, and how values are normalised.

Each synced object carries its store key in a unique-value property, so that
creates go through batch upsert on that key and a lost answer never yields a
second record.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from hubspot_sync.models import ObjectType

STORE_KEY_PROPERTY = {
    ObjectType.DEAL: "tally_order_key",
    ObjectType.LINE_ITEM: "tally_line_key",
}
FINGERPRINT_PROPERTY = "tally_fingerprint"
GROUP_NAME = {
    ObjectType.DEAL: "dealinformation",
    ObjectType.LINE_ITEM: "lineiteminformation",
}


@dataclass(frozen=True)
class PropertyDefinition:
    object_type: str
    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    unique: bool = False

    def as_request(self) -> dict:
        body = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": GROUP_NAME[self.object_type],
            "description": "Written by Tally; do not edit by hand.",
        }
        if self.unique:
            body["hasUniqueValue"] = True
        return body


CUSTOM_PROPERTIES = (
    PropertyDefinition(
        ObjectType.DEAL, "tally_order_key", "Tally order key", unique=True
    ),
    PropertyDefinition(ObjectType.DEAL, "tally_order_kind", "Tally order kind"),
    PropertyDefinition(ObjectType.DEAL, "tally_customer_id", "Store customer ID"),
    PropertyDefinition(ObjectType.DEAL, "tally_country", "Store customer country"),
    PropertyDefinition(
        ObjectType.LINE_ITEM, "tally_line_key", "Tally line key", unique=True
    ),
    PropertyDefinition(ObjectType.LINE_ITEM, "tally_line_kind", "Tally line kind"),
    PropertyDefinition(ObjectType.DEAL, FINGERPRINT_PROPERTY, "Tally fingerprint"),
    PropertyDefinition(ObjectType.LINE_ITEM, FINGERPRINT_PROPERTY, "Tally fingerprint"),
)

# How each synced property is compared with what HubSpot echoes back.
NUMBER_PROPERTIES = frozenset({"amount", "price", "quantity", "hs_position_on_quote"})
DATETIME_PROPERTIES = frozenset({"closedate"})


def normalise(name: str, value) -> str | None:
    """Return a canonical text form of a property value, for comparison.

    HubSpot answers every value as a string ("2", "19.990", ISO dates), while
    Tally may send numbers or epoch milliseconds; both sides go through here.
    """
    if value is None or value == "":
        return None
    if name in NUMBER_PROPERTIES:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return format(number.normalize(), "f") if number else "0"
    if name in DATETIME_PROPERTIES:
        return str(_epoch_ms(value))
    return str(value)


def _epoch_ms(value) -> int | str:
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def differences(sent: dict, echoed: dict) -> dict[str, dict]:
    """Properties whose echoed value differs from the sent one."""
    diffs = {}
    for name, value in sent.items():
        theirs = echoed.get(name)
        if normalise(name, value) != normalise(name, theirs):
            diffs[name] = {"store": value, "hubspot": theirs}
    return diffs
