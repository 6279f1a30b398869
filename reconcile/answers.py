"""The part of HubSpot's stored answer that concerns one order.

A batch answer covers up to 100 items, most of them other orders'; the order
page shows, for each call behind its history, only the entries of
``results`` and ``errors`` that name one of the order's store keys or HubSpot
IDs, plus the answer's own scalar fields (status, timestamps, counts). The
call's own page keeps the whole answer.
"""

import json
from collections.abc import Iterable

# A non-batch answer (an error envelope, say) is shown whole up to this size.
SMALL_ANSWER = 2_000


def excerpt(body: str, wanted: set[str]) -> str:
    """Indented JSON of what in ``body`` concerns ``wanted``; "" when nothing does."""
    if not body:
        return ""
    try:
        answer = json.loads(body)
    except ValueError:
        return body[:SMALL_ANSWER]
    if not isinstance(answer, dict):
        return ""
    lists = {k: v for k, v in answer.items() if isinstance(v, list)}
    if not lists:
        return body if len(body) <= SMALL_ANSWER else ""
    kept: dict = {k: v for k, v in answer.items() if not isinstance(v, list | dict)}
    found = False
    for name, entries in lists.items():
        mine = [entry for entry in entries if _mentions(entry, wanted)]
        if mine:
            kept[name] = mine
            found = True
        else:
            kept[name] = f"{len(entries)} entries, none about this order"
    return json.dumps(kept, indent=2, ensure_ascii=False) if found else ""


def _mentions(value, wanted: set[str]) -> bool:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value) in wanted
    if isinstance(value, dict):
        return any(_mentions(v, wanted) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, wanted) for v in value)
    return False


def identifiers(items: Iterable) -> set[str]:
    """The store keys and HubSpot IDs by which answers name these items."""
    names = set()
    for item in items:
        if item is None:
            continue
        names.add(item.key)
        if item.hubspot_id:
            names.add(item.hubspot_id)
    return names
