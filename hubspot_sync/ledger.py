"""Item outcomes of one batch, noted as they are decided and written together.

Rows are written with parameterised ``executemany`` rather than the ORM's bulk
methods: for 100 items those cost more than the HubSpot call itself
(bulk_update builds a CASE per column; bulk_create prepares every field).
"""

import json

from django.db import connection, transaction
from django.utils import timezone

from hubspot_sync import reasons
from hubspot_sync.client import ErrorItem, HubSpotError
from hubspot_sync.models import ItemOutcome, ItemState, Outcome, SyncBatch, SyncItem

ITEM_COLUMNS = (
    "state",
    "state_changed",
    "attempts",
    "last_run_id",
    "hubspot_id",
    "association",
    "associated_to",
    "reason_code",
    "reason",
    "next_step",
)
OUTCOME_COLUMNS = ("item_id", "run_id", "batch_id", "api_call_id", "outcome", "detail")
# Reason codes that describe the association, not the object's own write.
ASSOCIATION_CODES = frozenset(
    {
        reasons.DEAL_NOT_SYNCED.code,
        reasons.ASSOCIATION_UNREPORTED.code,
        reasons.ASSOCIATION_FAILED.code,
    }
)


class Ledger:
    def __init__(self, batch: SyncBatch) -> None:
        self.batch = batch
        self.items: dict[int, SyncItem] = {}
        self.outcomes: list[tuple] = []

    def record(self, items, outcome, state, reason=None, detail=None, call=None):
        """Move each item to ``state`` and note one outcome for it."""
        now = timezone.now()
        for item in items:
            if item.state != state:
                item.state_changed = now
            item.state = state
            if item.pk not in self.items:  # one attempt per item per batch
                item.attempts += 1
            item.last_run_id = self.batch.run_id
            _set_reason(item, reason)
        self._note(items, outcome, detail or {}, call)

    def record_association(self, items, outcome, association, reason, detail, call):
        for item in items:
            item.association = association
            if reason or item.reason_code in ASSOCIATION_CODES:
                _set_reason(item, reason)
        self._note(items, outcome, {"association": True, **detail}, call)

    def record_error(self, items, error: ErrorItem, call) -> None:
        reason = reasons.for_error(
            error.category, error.code, error.specific_message, error.property_name
        )
        self.record(
            items, Outcome.FAILED, ItemState.FAILED, reason, error.as_detail(), call
        )

    def record_call_failure(self, items, exc: HubSpotError) -> None:
        """A whole call failed: failed if permanent, otherwise worth sending again."""
        error = exc.as_error_item()
        detail = {"http_status": exc.status, **error.as_detail()}
        if exc.permanent:
            reason = reasons.for_error(
                exc.category, error.code, error.specific_message, error.property_name
            )
            self.record(
                items, Outcome.FAILED, ItemState.FAILED, reason, detail, exc.call
            )
        elif exc.category == "DAILY_LIMIT":
            reason = reasons.for_error(exc.category, "", exc.message)
            self.record(
                items, Outcome.TRANSIENT, ItemState.TRANSIENT, reason, detail, exc.call
            )
        elif exc.applied_unknown:
            reason = reasons.unknown(exc.message)
            self.record(
                items, Outcome.UNKNOWN, ItemState.UNKNOWN, reason, detail, exc.call
            )
        else:
            reason = reasons.transient(exc.message)
            self.record(
                items, Outcome.TRANSIENT, ItemState.TRANSIENT, reason, detail, exc.call
            )

    def _note(self, items, outcome: str, detail: dict, call) -> None:
        detail_text = json.dumps(detail)
        call_id = call.pk if call is not None else None
        for item in items:
            self.items[item.pk] = item
            self.outcomes.append((item.pk, call_id, outcome, detail_text))

    def flush(self) -> None:
        adapt = connection.ops.adapt_datetimefield_value
        now = adapt(timezone.now())
        item_rows = []
        for item in self.items.values():
            values = [getattr(item, column) for column in ITEM_COLUMNS]
            values[1] = adapt(item.state_changed)
            item_rows.append([*values, now, item.pk])
        run_id, batch_id = self.batch.run_id, self.batch.pk
        outcome_rows = [
            (item_id, run_id, batch_id, call_id, outcome, detail, now)
            for item_id, call_id, outcome, detail in self.outcomes
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            if item_rows:
                cursor.executemany(_update_sql(SyncItem, ITEM_COLUMNS), item_rows)
            if outcome_rows:
                cursor.executemany(
                    _insert_sql(ItemOutcome, (*OUTCOME_COLUMNS, "created")),
                    outcome_rows,
                )
        self.items, self.outcomes = {}, []


def _set_reason(item: SyncItem, reason) -> None:
    item.reason_code = reason.code if reason else ""
    item.reason = reason.text if reason else ""
    item.next_step = reason.next_step if reason else ""


def _update_sql(model, columns) -> str:
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(c)} = %s" for c in (*columns, "updated"))
    table = quote(model._meta.db_table)
    return f"UPDATE {table} SET {assignments} WHERE id = %s"  # noqa: S608


def _insert_sql(model, columns) -> str:
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    table = quote(model._meta.db_table)
    return f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
