"""Checking and normalising written property values, one function per property type.

Stored values are text, as HubSpot answers them (api-facts §5 "Formats").
"""

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from hubspot_sync.sandbox.clock import iso
from hubspot_sync.sandbox.errors import Problem
from hubspot_sync.sandbox.schema import PropertyDef

_LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class ValueProblem(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_properties(
    definitions: Mapping[str, PropertyDef], raw: Mapping[str, Any]
) -> tuple[dict[str, str], list[Problem]]:
    """Return the normalised values ("" clears a value) and every problem found."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for name, value in raw.items():
        definition = definitions.get(name)
        if definition is None:
            message = f'Property "{name}" does not exist'
            problems.append(Problem("PROPERTY_DOESNT_EXIST", message, name))
        elif definition.read_only:
            message = f'"{name}" is a read only property; its value cannot be set.'
            problems.append(Problem("READ_ONLY_VALUE", message, name))
        else:
            try:
                values[name] = normalise(definition, value)
            except ValueProblem as problem:
                problems.append(Problem(problem.code, problem.message, name))
    return values, problems


def normalise(definition: PropertyDef, raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, dict | list):
        raise ValueProblem(
            "INVALID_VALUE",
            f"{definition.name} takes a single value, not {type(raw).__name__}",
        )
    text = _as_text(raw).strip()
    if text == "":
        return ""
    return _BY_TYPE[definition.type](definition, text)


def _as_text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _string(definition: PropertyDef, text: str) -> str:
    return text


def _number(definition: PropertyDef, text: str) -> str:
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ValueProblem("INVALID_INTEGER", f"{text} was not a valid number.")
    if definition.non_negative and number < 0:
        raise ValueProblem(
            "NEGATIVE_VALUE", f"{definition.name} must not be negative, got {text}."
        )
    return text


def _datetime(definition: PropertyDef, text: str) -> str:
    return iso(epoch_ms(text))


def _date(definition: PropertyDef, text: str) -> str:
    ms = epoch_ms(text)
    rest = ms % 86_400_000
    if rest:
        # The wording HubSpot uses for this (api-facts §3), e.g. "… is at 4:10:33.600 UTC, not midnight!"
        clock = f"{rest // 3_600_000}:{rest // 60_000 % 60:02d}:{rest // 1000 % 60:02d}.{rest % 1000:03d}"
        raise ValueProblem("INVALID_DATE", f"{text} is at {clock} UTC, not midnight!")
    return iso(ms)[:10]


def epoch_ms(text: str) -> int:
    """Epoch milliseconds from ms or ISO-8601 text; raise ValueProblem if it is neither."""
    if text.lstrip("-").isdigit():
        return _in_range(int(text), text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueProblem("INVALID_LONG", f"{text} was not a valid long.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _in_range(ms: int, text: str) -> int:
    if not 0 <= ms <= _LAST_MS:
        raise ValueProblem("INVALID_LONG", f"{text} was not a valid long.")
    return ms


def _enumeration(definition: PropertyDef, text: str) -> str:
    allowed = definition.option_values()
    if text not in allowed:
        raise ValueProblem(
            "INVALID_OPTION",
            f"{text} was not one of the allowed options: [{', '.join(allowed)}]",
        )
    return text


def _bool(definition: PropertyDef, text: str) -> str:
    if text.lower() not in ("true", "false"):
        raise ValueProblem("INVALID_BOOLEAN", f"{text} was not a valid boolean.")
    return text.lower()


_BY_TYPE: dict[str, Callable[[PropertyDef, str], str]] = {
    "string": _string,
    "number": _number,
    "datetime": _datetime,
    "date": _date,
    "enumeration": _enumeration,
    "bool": _bool,
}


def line_amount(quantity: str, price: str) -> str:
    """quantity × price, the way D-LI defines a line item's ``amount``."""
    product = Decimal(quantity) * Decimal(price)
    return format(product.normalize(), "f") if product else "0"
