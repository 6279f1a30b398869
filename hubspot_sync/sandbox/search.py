"""POST /crm/v3/objects/{t}/search: filter groups, one sort, offset paging (api-facts §8).

Rules from D-SEARCH: groups are ORed and the filters in a group ANDed; at most
5 groups, 6 filters in a group, 18 in all; filter values are case-insensitive
except on enumerations, and string values in IN / NOT_IN must be lower case;
oldest first unless sorted; at most 200 a page; ``after`` is an integer; no
paging past 10,000 results; no body over 3,000 characters; archived records
never appear, and new writes show only after ``ctx.search_lag_ms``.
"""

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Any

from hubspot_sync.sandbox.clock import now_ms
from hubspot_sync.sandbox.errors import bad_request
from hubspot_sync.sandbox.kinds import ObjectKind, find_kind
from hubspot_sync.sandbox.messages import Context, Response
from hubspot_sync.sandbox.records import render_read
from hubspot_sync.sandbox.schema import PropertyDef
from hubspot_sync.sandbox.store import Record
from hubspot_sync.sandbox.values import ValueProblem, epoch_ms

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
DEFAULT_LIMIT = 10
MAX_LIMIT = 200
MAX_RESULTS = 10_000
MAX_BODY_CHARACTERS = 3_000

_NEEDS_VALUE = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN"}
_NEEDS_VALUES = {"IN", "NOT_IN"}
_TOKENS = {"CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
OPERATORS = (
    _NEEDS_VALUE | _NEEDS_VALUES | _TOKENS | {"HAS_PROPERTY", "NOT_HAS_PROPERTY"}
)
# Operators a record without a value satisfies.
_MATCH_EMPTY = {"NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN", "NOT_HAS_PROPERTY"}

Predicate = Callable[[Record], bool]


def search(ctx: Context, kind: ObjectKind) -> Response:
    if len(ctx.request.raw_body.decode("utf-8", "replace")) > MAX_BODY_CHARACTERS:
        raise bad_request(
            f"The search request body may not exceed {MAX_BODY_CHARACTERS} characters"
        )
    body = ctx.request.json()
    if not isinstance(body, dict):
        raise bad_request("Invalid input JSON: expected an object")
    definitions = ctx.store.definitions(kind)
    groups = body.get("filterGroups")
    match = _groups(ctx, kind, definitions, groups)
    order = _sort(definitions, body.get("sorts"))
    text = _query(definitions, body.get("query"))
    limit, after = _limit(body.get("limit")), _after(body.get("after"))

    visible_until = now_ms() - ctx.search_lag_ms
    found = [
        r
        for r in _candidates(ctx, kind, definitions, groups)
        if r.updated_ms <= visible_until and match(r) and text(r)
    ]
    found = order(found)
    requested = _names(body.get("properties"))
    page = found[after : min(after + limit, MAX_RESULTS)]
    answer: dict[str, Any] = {
        "total": len(found),
        "results": [render_read(r, requested, definitions) for r in page],
    }
    if after + limit < len(found):
        # Offered even at 10,000, where following it is refused, as D-SEARCH warns.
        answer["paging"] = {"next": {"after": str(after + limit)}}
    return Response(200, answer)


def _candidates(
    ctx: Context,
    kind: ObjectKind,
    definitions: Mapping[str, PropertyDef],
    groups: Any,
) -> list[Record]:
    """The live records a search may match: all of them, or, when every group
    has an EQ or IN filter on a string property, those the store finds for it.
    The filters still run on each; this only spares reading every record."""
    choices = [_narrowing(definitions, group["filters"]) for group in groups or []]
    if not choices or None in choices:
        return ctx.store.all(kind)
    return ctx.store.any_lowered_in(kind, choices)  # type: ignore[arg-type]


def _narrowing(
    definitions: Mapping[str, PropertyDef], filters: list[dict[str, Any]]
) -> tuple[str, list[str]] | None:
    for raw in filters:
        definition = definitions.get(raw["propertyName"])
        if definition is None or definition.type != "string":
            continue
        if raw["operator"] == "EQ":
            return definition.name, [str(_text(raw["value"])).lower()]
        if raw["operator"] == "IN":
            return definition.name, [str(_text(v)) for v in raw["values"]]
    return None


# Filters


@dataclass(frozen=True)
class Filter:
    name: str
    operator: str
    value: str | None
    high: str | None
    values: tuple[str, ...]


def _groups(
    ctx: Context, kind: ObjectKind, definitions: Mapping[str, PropertyDef], raw: Any
) -> Predicate:
    if raw is None or raw == []:
        return lambda record: True
    if not isinstance(raw, list) or not all(
        isinstance(g, dict) and isinstance(g.get("filters"), list) for g in raw
    ):
        raise bad_request(
            "Invalid input JSON: `filterGroups` must be a list of {filters: [...]}"
        )
    _check_counts([len(group["filters"]) for group in raw])
    groups = [
        [_predicate(ctx, kind, definitions, _filter(f)) for f in group["filters"]]
        for group in raw
    ]
    return lambda record: any(all(p(record) for p in group) for group in groups)


def _check_counts(sizes: list[int]) -> None:
    # D-SEARCH names the limits and the category, not the message: sandbox wording.
    if len(sizes) > MAX_GROUPS:
        raise bad_request(
            f"Too many filter groups: {len(sizes)}. At most {MAX_GROUPS} are allowed."
        )
    if any(size > MAX_FILTERS_PER_GROUP for size in sizes):
        raise bad_request(
            f"Too many filters in a group: {max(sizes)}. At most {MAX_FILTERS_PER_GROUP} are allowed."
        )
    if sum(sizes) > MAX_FILTERS:
        raise bad_request(
            f"Too many filters: {sum(sizes)}. At most {MAX_FILTERS} are allowed in all groups."
        )


def _filter(raw: Any) -> Filter:
    if not isinstance(raw, dict) or not isinstance(raw.get("propertyName"), str):
        raise bad_request("Invalid input JSON: every filter needs a `propertyName`")
    name = raw.get("operator")
    if name not in OPERATORS:
        raise bad_request(
            f"Invalid filter operator {name!r}; use one of {sorted(OPERATORS)}"
        )
    needed = {
        "value": name in _NEEDS_VALUE | _TOKENS,
        "highValue": name == "BETWEEN",
    }
    for key, required in needed.items():
        if required and _text(raw.get(key)) is None:
            raise bad_request(f"Invalid filter: {name} needs a `{key}`")
    values = raw.get("values")
    if name in _NEEDS_VALUES and (not isinstance(values, list) or not values):
        raise bad_request(f"Invalid filter: {name} needs a list of `values`")
    return Filter(
        raw["propertyName"],
        name,
        _text(raw.get("value")),
        _text(raw.get("highValue")),
        tuple(str(_text(v)) for v in values or []),
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _predicate(
    ctx: Context,
    kind: ObjectKind,
    definitions: Mapping[str, PropertyDef],
    flt: Filter,
) -> Predicate:
    if flt.name.startswith("associations."):
        return _associated(ctx, kind, flt)
    definition = definitions.get(flt.name)
    if definition is None:
        raise bad_request(f'Invalid filter: property "{flt.name}" does not exist')
    test = _test(definition, flt)
    multiple = definition.field_type == "checkbox"

    def matches(record: Record) -> bool:
        stored = record.properties.get(flt.name)
        if not stored:
            return flt.operator in _MATCH_EMPTY
        if not multiple:
            return test(stored)
        # A multi-value property matches if any value does; the negations if none.
        values = stored.split(";")
        if flt.operator in _MATCH_EMPTY:
            return all(map(test, values))
        return any(map(test, values))

    return matches


def _test(definition: PropertyDef, flt: Filter) -> Callable[[str], bool]:
    """How one present value is checked against the filter."""
    positive = _NEGATIONS.get(flt.operator)
    if positive is not None:
        test = _test(definition, replace(flt, operator=positive))
        return lambda stored: not test(stored)
    if flt.operator == "HAS_PROPERTY":
        return lambda stored: True
    if flt.operator == "CONTAINS_TOKEN":
        return _has_token(str(flt.value))
    if flt.operator == "IN":
        return _is_in(definition, flt)
    return _compares(definition, flt)


_NEGATIONS = {
    "NEQ": "EQ",
    "NOT_IN": "IN",
    "NOT_CONTAINS_TOKEN": "CONTAINS_TOKEN",
    "NOT_HAS_PROPERTY": "HAS_PROPERTY",
}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": operator.eq,
    "LT": operator.lt,
    "LTE": operator.le,
    "GT": operator.gt,
    "GTE": operator.ge,
}


def _has_token(value: str) -> Callable[[str], bool]:
    # A token is a word between blanks, commas or semicolons; * is a wildcard.
    pattern = value.lower()
    return lambda stored: any(fnmatchcase(t, pattern) for t in _tokens(stored))


def _is_in(definition: PropertyDef, flt: Filter) -> Callable[[str], bool]:
    if definition.type == "string":
        # D-SEARCH: string values in IN / NOT_IN must be lower case, so an
        # upper-case one never matches.
        wanted = set(flt.values)
        return lambda stored: stored.lower() in wanted
    key = _key(definition)
    keys = {_parse(key, value, flt) for value in flt.values}
    return lambda stored: key(stored) in keys


def _compares(definition: PropertyDef, flt: Filter) -> Callable[[str], bool]:
    key = _key(definition)
    low = _parse(key, str(flt.value), flt)
    if flt.operator == "BETWEEN":
        high = _parse(key, str(flt.high), flt)
        return lambda stored: low <= key(stored) <= high
    compare = _COMPARISONS[flt.operator]
    return lambda stored: compare(key(stored), low)


def _key(definition: PropertyDef) -> Callable[[str], Any]:
    """What a value is compared as: a number, epoch ms, or text."""
    if definition.type == "number":
        return _number
    if definition.type in ("date", "datetime"):
        return epoch_ms
    if definition.type == "enumeration":
        return str  # enumerations alone are case-sensitive (D-SEARCH)
    return str.lower


def _number(text: str) -> Decimal:
    number = Decimal(text)
    if not number.is_finite():
        raise InvalidOperation(text)
    return number


def _parse(key: Callable[[str], Any], text: str, flt: Filter) -> Any:
    try:
        return key(text)
    except (InvalidOperation, ValueProblem):
        raise bad_request(
            f"Invalid filter: {text!r} is not a valid value for {flt.name}"
        ) from None


def _tokens(text: str) -> list[str]:
    return [token for token in re.split(r"[\s,;]+", text.lower()) if token]


def _associated(ctx: Context, kind: ObjectKind, flt: Filter) -> Predicate:
    """``associations.{type}``: records linked to the given IDs (D-SEARCH)."""
    other = find_kind(flt.name.removeprefix("associations."))
    if other is None or other is kind or flt.operator not in ("EQ", "IN"):
        raise bad_request(
            f"Invalid filter: the sandbox searches {flt.name} with EQ or IN on a deal or line item only"
        )
    ids = [flt.value] if flt.operator == "EQ" else list(flt.values)
    linked = {
        link.to_id
        for links in ctx.store.links_from([str(i) for i in ids], kind).values()
        for link in links
    }
    return lambda record: record.id in linked


# Sorting, free text, paging


def _sort(
    definitions: Mapping[str, PropertyDef], raw: Any
) -> Callable[[list[Record]], list[Record]]:
    if not raw:
        # "By default, the results will be returned in order of object creation
        # (oldest first)" (D-SEARCH): IDs increase with creation here.
        return lambda records: records
    if not isinstance(raw, list) or len(raw) != 1:
        raise bad_request("Only one sorting rule can be applied to a search")
    name, descending = _sort_rule(raw[0])
    definition = definitions.get(name)
    if definition is None:
        raise bad_request(f'Invalid sort: property "{name}" does not exist')
    key = _key(definition)

    def order(records: list[Record]) -> list[Record]:
        # Records without a value come last either way (sandbox choice).
        having = [r for r in records if r.properties.get(name)]
        lacking = [r for r in records if not r.properties.get(name)]
        having.sort(key=lambda r: key(r.properties[name]), reverse=descending)
        return having + lacking

    return order


def _sort_rule(rule: Any) -> tuple[str, bool]:
    # The docs send {propertyName, direction}; SPEC and the Python client type a
    # sort as a string, taken here as a name with an optional "-" for descending.
    if isinstance(rule, str) and rule.strip("-"):
        return rule.lstrip("-"), rule.startswith("-")
    if isinstance(rule, dict) and isinstance(rule.get("propertyName"), str):
        direction = rule.get("direction", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise bad_request(f"Invalid sort direction {direction!r}")
        return rule["propertyName"], direction == "DESCENDING"
    raise bad_request("Invalid input JSON: a sort is {propertyName, direction}")


def _query(definitions: Mapping[str, PropertyDef], raw: Any) -> Predicate:
    """``query``: text found in any string property (HubSpot searches a fixed few)."""
    if raw in (None, ""):
        return lambda record: True
    if not isinstance(raw, str):
        raise bad_request("Invalid input JSON: `query` must be a string")
    needle = raw.lower()
    names = [d.name for d in definitions.values() if d.type == "string"]
    return lambda record: any(
        needle in record.properties.get(name, "").lower() for name in names
    )


def _limit(raw: Any) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_LIMIT:
        raise bad_request(f"`limit` must be a whole number from 1 to {MAX_LIMIT}")
    return raw


def _after(raw: Any) -> int:
    if raw is None or raw == "":
        return 0
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(text, str) or not text.isdigit():
        raise bad_request(f"`after` must be formatted as an integer, got {raw!r}")
    after = int(text)
    if after >= MAX_RESULTS:
        raise bad_request(
            f"Search results are limited to {MAX_RESULTS:,}; `after` {after} pages beyond them"
        )
    return after


def _names(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request("Invalid input JSON: `properties` must be a list of names")
    return [str(name) for name in raw]
