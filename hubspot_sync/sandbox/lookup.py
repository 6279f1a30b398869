"""Finding the records a request names, by record ID or by a unique property."""

from collections.abc import Iterable

from hubspot_sync.sandbox.errors import bad_request
from hubspot_sync.sandbox.kinds import ObjectKind
from hubspot_sync.sandbox.messages import Context
from hubspot_sync.sandbox.store import Record


def check_id_property(ctx: Context, kind: ObjectKind, name: str) -> None:
    """Refuse an ``idProperty`` that is not a unique-value property.

    The message is the one seen from HubSpot (api-facts §1.4); reads by
    idProperty get the same one here.
    """
    definition = ctx.store.definitions(kind).get(name)
    if definition is None or not definition.unique:
        raise bad_request(
            f"Unable to perform update/upsert by non-unique {kind.type_id} property {name} in portal ID {ctx.portal_id}"
        )


def find_records(
    ctx: Context,
    kind: ObjectKind,
    keys: Iterable[tuple[str, str | None]],
    *,
    archived: bool = False,
    follow_merges: bool = False,
) -> dict[tuple[str, str | None], Record]:
    """Map each (id, idProperty or None) to the record it names, leaving out the missing.

    With ``follow_merges`` a merged-away record ID names the record that
    absorbed it, as single reads and PATCH do; batch update does not (D-OBJ).
    """
    keys = list(dict.fromkeys(keys))
    by_property: dict[str | None, list[str]] = {}
    for value, id_property in keys:
        by_property.setdefault(id_property, []).append(value)

    found: dict[tuple[str, str | None], Record] = {}
    for id_property, values in by_property.items():
        for value, record in _find(ctx, kind, id_property, values, archived).items():
            found[(value, id_property)] = record
    if follow_merges:
        found.update(_merged(ctx, kind, by_property.get(None, []), archived))
    return found


def _merged(
    ctx: Context, kind: ObjectKind, ids: list[str], archived: bool
) -> dict[tuple[str, str | None], Record]:
    survivors = ctx.store.survivors(kind, ids)
    records = ctx.store.get_many(kind, survivors.values(), archived=archived)
    return {
        (old, None): records[new] for old, new in survivors.items() if new in records
    }


def _find(
    ctx: Context,
    kind: ObjectKind,
    id_property: str | None,
    values: list[str],
    archived: bool,
) -> dict[str, Record]:
    if id_property is None:
        return ctx.store.get_many(kind, values, archived=archived)
    if archived:
        # Archived records give up their unique values, so look them up by scan.
        return {
            value: matches[-1]
            for value in values
            if (
                matches := ctx.store.find_by_property(
                    kind, id_property, value, archived=True
                )
            )
        }
    holders = ctx.store.holders(kind, id_property, values)
    records = ctx.store.get_many(kind, holders.values())
    return {value: records[object_id] for value, object_id in holders.items()}
