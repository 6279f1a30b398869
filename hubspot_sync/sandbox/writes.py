"""Batch create, update and upsert: plan every input, then write the good ones.

Without an ``objectWriteTraceId`` on every input a batch is all or nothing: the
first input that cannot be written rejects the whole request (api-facts §1.3).
With one on every input the batch answers 207 and writes the rest.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hubspot_sync.sandbox.batch import (
    BatchOutcome,
    batch_inputs,
    input_id,
    refuse_duplicate_ids,
)
from hubspot_sync.sandbox.clock import iso, now_ms
from hubspot_sync.sandbox.errors import (
    InputFailure,
    bad_request,
    error_item,
    invalid_values,
    not_found_message,
)
from hubspot_sync.sandbox.history import API, Source, changes
from hubspot_sync.sandbox.kinds import (
    ASSOCIATION_TYPES,
    DEAL,
    HUBSPOT_DEFINED,
    LINE_ITEM,
    ObjectKind,
)
from hubspot_sync.sandbox.lookup import check_id_property, find_records
from hubspot_sync.sandbox.messages import Context
from hubspot_sync.sandbox.records import render_write
from hubspot_sync.sandbox.store import Link, Record
from hubspot_sync.sandbox.values import check_properties, line_amount


@dataclass
class Plan:
    position: int
    existing: Record | None
    written: dict[str, str]
    values: dict[str, str]
    links: list[tuple[ObjectKind, str, int]] = field(default_factory=list)
    record: Record | None = None


class Planner:
    """Checks inputs one by one against the store and against earlier inputs of the batch."""

    def __init__(
        self,
        ctx: Context,
        kind: ObjectKind,
        source: Source = API,
        check_unique: bool = True,
    ) -> None:
        self.ctx = ctx
        self.kind = kind
        self.source = source
        # False only for the control endpoint that plants a duplicate key.
        self.check_unique = check_unique
        self.definitions = ctx.store.definitions(kind)
        self.unique_names = [p.name for p in self.definitions.values() if p.unique]
        self.claimed: set[tuple[str, str]] = set()

    def plan(
        self, position: int, item: dict[str, Any], existing: Record | None
    ) -> Plan:
        raw = item.get("properties")
        if not isinstance(raw, dict):
            raise bad_request(
                "Invalid input JSON: every input needs a `properties` object"
            )
        written, problems = check_properties(self.definitions, raw)
        if problems:
            raise invalid_values(problems, self.ctx.portal_id)
        links = self._inline_links(item.get("associations")) if existing is None else []
        values = self._merge(existing, written)
        if self.check_unique:
            self._claim_unique(values, existing)
        return Plan(position, existing, written, values, links)

    def _merge(
        self, existing: Record | None, written: dict[str, str]
    ) -> dict[str, str]:
        values = dict(existing.properties) if existing else {}
        for name, value in written.items():
            if value == "":
                values.pop(name, None)
            else:
                values[name] = value
        if self.kind is LINE_ITEM and values.get("quantity") and values.get("price"):
            values["amount"] = line_amount(values["quantity"], values["price"])
        if self.kind is DEAL and existing is None:
            # D-DEAL: "If a pipeline isn't specified, the default pipeline will be used."
            values.setdefault("pipeline", "default")
        return values

    def _claim_unique(self, values: dict[str, str], existing: Record | None) -> None:
        for name in self.unique_names:
            value = values.get(name)
            if not value:
                continue
            holder = self.ctx.store.holders(self.kind, name, [value]).get(value)
            if holder is not None and (existing is None or holder != existing.id):
                raise _conflict(name, value, f"Existing ID: {holder}")
            if (name, value) in self.claimed:
                raise _conflict(name, value, "Another input of this batch claims it.")
        self.claimed.update((n, values[n]) for n in self.unique_names if values.get(n))

    def _inline_links(self, raw: Any) -> list[tuple[ObjectKind, str, int]]:
        if not raw:
            return []
        if not isinstance(raw, list):
            raise bad_request("Invalid input JSON: `associations` must be a list")
        links = [link for association in raw for link in self._links(association)]
        for to_kind, to_id, _ in links:
            if self.ctx.store.get(to_kind, to_id) is None:
                raise InputFailure(
                    400,
                    "VALIDATION_ERROR",
                    f"Cannot associate: {to_kind.label} {to_id} does not exist.",
                )
        return links

    def _links(self, association: Any) -> list[tuple[ObjectKind, str, int]]:
        try:
            to_id = str(association["to"]["id"])
            types = [
                (t["associationCategory"], int(t["associationTypeId"]))
                for t in association["types"]
            ]
        except (KeyError, TypeError, ValueError):
            raise bad_request(
                "Invalid input JSON: associations need `to.id` and `types`"
            ) from None
        return [
            (self._target(category, type_id), to_id, type_id)
            for category, type_id in types
        ]

    def _target(self, category: str, type_id: int) -> ObjectKind:
        for (from_kind, to_kind), known in ASSOCIATION_TYPES.items():
            if (
                from_kind is self.kind
                and known == type_id
                and category == HUBSPOT_DEFINED
            ):
                return to_kind
        raise InputFailure(
            400,
            "VALIDATION_ERROR",
            f"{category} association type {type_id} is not valid from {self.kind.label}.",
        )

    def apply(self, plans: list[Plan]) -> list[Record]:
        """Write the planned records, giving new ones the next IDs."""
        now = now_ms()
        new_ids = iter(
            self.ctx.store.allocate_ids(sum(p.existing is None for p in plans))
        )
        for plan in plans:
            plan.record = self._record(plan, now, new_ids)
        records = [plan.record for plan in plans if plan.record]
        self.ctx.store.save(records, index_unique=self.check_unique)
        self.ctx.store.add_history(
            (
                (plan.record.id, name, value)
                for plan in plans
                if plan.record
                for name, value in changes(
                    plan.existing.properties if plan.existing else {},
                    plan.record.properties,
                )
            ),
            now,
            self.source,
        )
        self.ctx.store.link(
            link for plan in plans for link in _both_ways(self.kind, plan)
        )
        return records

    def _record(self, plan: Plan, now: int, new_ids: Any) -> Record:
        stamp = {"hs_lastmodifieddate": iso(now)}
        if plan.existing is not None:
            existing = plan.existing
            return Record(
                existing.id,
                existing.kind,
                plan.values | stamp,
                existing.created_ms,
                now,
            )
        object_id = next(new_ids)
        system = {"hs_object_id": object_id, "createdate": iso(now)} | stamp
        return Record(object_id, self.kind.name, plan.values | system, now, now)


def _both_ways(kind: ObjectKind, plan: Plan) -> list[Link]:
    assert plan.record is not None
    links = []
    for to_kind, to_id, type_id in plan.links:
        inverse = ASSOCIATION_TYPES[(to_kind, kind)]
        links.append(
            Link(plan.record.id, to_kind.name, to_id, HUBSPOT_DEFINED, type_id)
        )
        links.append(Link(to_id, kind.name, plan.record.id, HUBSPOT_DEFINED, inverse))
    return links


def _conflict(name: str, value: str, detail: str) -> InputFailure:
    # HubSpot's answer to a duplicate unique value is unverified (api-facts §3,
    # open question 15); the sandbox answers 409 with "already has that value".
    message = f'Property "{name}" already has that value "{value}". {detail}'
    code = {
        "message": message,
        "code": "DUPLICATE_UNIQUE_PROPERTY_VALUE",
        "context": {"propertyName": [name]},
    }
    return InputFailure(409, "CONFLICT", message, [code])


def _trace_id(item: dict[str, Any]) -> str | None:
    value = item.get("objectWriteTraceId")
    return str(value) if value not in (None, "") else None


def _plan_all(
    ctx: Context,
    inputs: list[dict[str, Any]],
    plan_one: Callable[[int, dict[str, Any]], Plan | None],
) -> tuple[list[Plan], list[dict[str, Any]]]:
    """Plan each input; a failure rejects the batch unless every input is traced.

    The ``reject_whole_batch`` quirk turns per-input answers off
    (``ctx.per_input_errors``), traced or not.
    """
    traced = (
        ctx.per_input_errors
        and bool(inputs)
        and all(_trace_id(item) for item in inputs)
    )
    plans, errors = [], []
    for position, item in enumerate(inputs):
        try:
            plan = plan_one(position, item)
        except InputFailure as failure:
            if not traced:
                raise failure.as_api_error() from None
            errors.append(
                failure.as_item({"objectWriteTraceId": [str(_trace_id(item))]})
            )
        else:
            if plan is not None:
                plans.append(plan)
    return plans, errors


def create(ctx: Context, kind: ObjectKind) -> BatchOutcome:
    inputs = batch_inputs(ctx.request.json())
    outcome = BatchOutcome("create", kind.name, 201)
    with ctx.store.atomic():
        planner = Planner(ctx, kind)
        plans, outcome.errors = _plan_all(
            ctx, inputs, lambda i, item: planner.plan(i, item, None)
        )
        records = planner.apply(plans)
    outcome.results = [render_write(record, None) for record in records]
    return outcome


def update(ctx: Context, kind: ObjectKind) -> BatchOutcome:
    inputs = batch_inputs(ctx.request.json())
    keys = [(input_id(item), item.get("idProperty") or None) for item in inputs]
    refuse_duplicate_ids([f"{p}:{i}" if p else i for i, p in keys])
    for id_property in {p for _, p in keys if p}:
        check_id_property(ctx, kind, id_property)

    outcome = BatchOutcome("update", kind.name, 200)
    with ctx.store.atomic():
        found = find_records(ctx, kind, keys)
        planner = Planner(ctx, kind)
        plans, outcome.errors = _plan_all(
            ctx,
            inputs,
            lambda i, item: (
                planner.plan(i, item, found[keys[i]]) if keys[i] in found else None
            ),
        )
        planner.apply(plans)
    outcome.results = [
        render_write(plan.record, plan.written) for plan in plans if plan.record
    ]
    missing = [i for i, key in enumerate(keys) if key not in found]
    outcome.errors += _not_found_errors(kind, inputs, missing)
    # Not followed here (D-OBJ), but known, so that a quirk can treat them apart.
    outcome.merged_away = set(
        ctx.store.survivors(kind, [keys[i][0] for i in missing if not keys[i][1]])
    )
    return outcome


def _not_found_errors(
    kind: ObjectKind, inputs: list[dict[str, Any]], missing: list[int]
) -> list[dict[str, Any]]:
    """OBJECT_NOT_FOUND for update inputs naming no record (api-facts §2.1, option a).

    When every input is traced, each missing one gets its own item with its trace
    ID next to the ID; otherwise one item lists every missing ID, as batch read
    does (api-facts §2.2).
    """
    if not missing:
        return []
    message = not_found_message(kind.label)
    if all(_trace_id(item) for item in inputs):
        return [
            error_item(
                "OBJECT_NOT_FOUND",
                message,
                {
                    "ids": [input_id(inputs[i])],
                    "objectWriteTraceId": [str(_trace_id(inputs[i]))],
                },
            )
            for i in missing
        ]
    return [
        error_item(
            "OBJECT_NOT_FOUND", message, {"ids": [input_id(inputs[i]) for i in missing]}
        )
    ]


def upsert(ctx: Context, kind: ObjectKind) -> BatchOutcome:
    inputs = batch_inputs(ctx.request.json())
    keys = [(input_id(item), _upsert_key(item)) for item in inputs]
    refuse_duplicate_ids([i for i, _ in keys])
    for id_property in {p for _, p in keys}:
        check_id_property(ctx, kind, id_property)

    outcome = BatchOutcome("upsert", kind.name, 200)
    with ctx.store.atomic():
        found = find_records(ctx, kind, keys)
        planner = Planner(ctx, kind)

        def plan_one(position: int, item: dict[str, Any]) -> Plan:
            value, id_property = keys[position]
            if isinstance(item.get("properties"), dict):
                # The key is written with the record, whatever `properties` says.
                item = {
                    **item,
                    "properties": {**item["properties"], id_property: value},
                }
            return planner.plan(position, item, found.get(keys[position]))

        plans, outcome.errors = _plan_all(ctx, inputs, plan_one)
        planner.apply(plans)
    outcome.results = [_upsert_result(plan) for plan in plans]
    return outcome


def _upsert_key(item: dict[str, Any]) -> str:
    id_property = item.get("idProperty")
    if not id_property or not isinstance(id_property, str):
        raise bad_request(
            "Invalid input JSON: every upsert input needs an `idProperty`"
        )
    return id_property


def _upsert_result(plan: Plan) -> dict[str, Any]:
    assert plan.record is not None
    created = plan.existing is None
    body = render_write(plan.record, None if created else plan.written)
    body["new"] = created
    return body


def create_one(
    ctx: Context,
    kind: ObjectKind,
    body: Any,
    source: Source = API,
    check_unique: bool = True,
) -> Record:
    """Create one record as HubSpot's UI would; raise ApiError when it cannot be written."""
    with ctx.store.atomic():
        planner = Planner(ctx, kind, source, check_unique)
        try:
            plan = planner.plan(0, body if isinstance(body, dict) else {}, None)
        except InputFailure as failure:
            raise failure.as_api_error() from None
        (created,) = planner.apply([plan])
    return created


def update_one(
    ctx: Context, kind: ObjectKind, record: Record, body: Any, source: Source = API
) -> dict[str, Any]:
    """PATCH one record; raise ApiError as the whole answer when it cannot be written."""
    with ctx.store.atomic():
        planner = Planner(ctx, kind, source)
        try:
            plan = planner.plan(0, body if isinstance(body, dict) else {}, record)
        except InputFailure as failure:
            raise failure.as_api_error() from None
        (updated,) = planner.apply([plan])
    return render_write(updated, plan.written)
