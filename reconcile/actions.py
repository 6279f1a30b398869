"""Retry, resync and sweep: what each would do, and doing it.

Every action is two steps. ``preview`` is pure: it reads the selection and
says how many items it holds (by type and state), how many would be sent or
skipped and why, and how many HubSpot calls that takes against what is left
of today's budget. ``execute`` computes the same preview again (nothing the
browser sent back is trusted), refuses when it is empty, over budget or no
longer what the person saw, and otherwise marks the items pending and queues
one run, all in one transaction. Every attempt ends in an ``AuditEntry``.

A retry or resync never deletes history: items only change state, and the
run adds its outcomes to theirs.
"""

import hashlib
import json
import logging
import math
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from hubspot_sync import engine, tasks
from hubspot_sync.client import LIST_PAGE
from hubspot_sync.models import (
    RETRYABLE_STATES,
    SENDABLE_STATES,
    ItemOutcome,
    ItemState,
    ObjectType,
    SyncItem,
    SyncRun,
)
from hubspot_sync.properties import CUSTOM_PROPERTIES
from reconcile import budget, categories, filters, queries
from reconcile.mapping import stage
from reconcile.models import AuditEntry, LineItem, Order, Store, Sweep
from reconcile.tables import counted

logger = logging.getLogger(__name__)

RETRY = "retry"
RESYNC = "resync"
SWEEP = "sweep"
PERMISSIONS = {
    RETRY: "reconcile.retry_items",
    RESYNC: "reconcile.resync_orders",
    SWEEP: "reconcile.run_sweep",
}

DEALS = ObjectType.DEAL.value
LINES = ObjectType.LINE_ITEM.value
# A retry sends what a run would send anyway and what waits for a person.
RETRY_STATES = tuple(SENDABLE_STATES) + tuple(RETRYABLE_STATES)
# How a preview names the items it leaves out, by state: what they are, and
# why they are left out (said of one item, and of several).
SKIP_REASONS = {
    ItemState.VERIFIED.value: (
        "already verified",
        "a resync of its order sends it again",
        "a resync of their orders sends them again",
    ),
    ItemState.EXCLUDED.value: ("not synced by design", "never sent", "never sent"),
}
# Resync items whose order or line has no SyncItem yet (stage creates them).
NEW = "new"
NEW_LABEL = "Not staged yet"
# The list's query-string fields that narrow a selection; page and sort do not.
LIST_FIELDS = tuple(filters.ItemFilter.base_filters)
MAX_ITEMS = 1000
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


class SelectionError(ValueError):
    """The query string does not name a valid selection; the text says why."""


@dataclass(frozen=True)
class Selection:
    action: str
    target: str
    parameters: dict
    # The SyncItems chosen, whatever their state (retry and resync).
    items: QuerySet | None = None
    # The orders to stage again (resync only).
    orders: QuerySet | None = None


@dataclass
class Preview:
    """The figures a confirmation page shows, and the audit log keeps."""

    action: str
    target: str
    # {state: {"deals": n, "line_items": n}}, states that hold none left out.
    by_state: dict = field(default_factory=dict)
    selected: dict = field(default_factory=dict)
    to_send: dict = field(default_factory=dict)
    # {state: n} of items left out, with SKIP_REASONS saying why.
    skipped: dict = field(default_factory=dict)
    # Items outside the selection that the same run sends too.
    also_waiting: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)
    budget: dict = field(default_factory=dict)
    # Why it cannot go ahead ("" when it can).
    problem: str = ""

    @property
    def ready(self) -> bool:
        return not self.problem

    @property
    def total_selected(self) -> int:
        return sum(self.selected.values())

    @property
    def total_to_send(self) -> int:
        return sum(self.to_send.values())

    @property
    def digest(self) -> str:
        """Short hash of what was selected, to tell whether it changed since."""
        seen = [self.action, self.target, self.by_state, self.to_send, self.skipped]
        text = json.dumps(seen, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def as_dict(self) -> dict:
        return {**asdict(self), "digest": self.digest}


@dataclass(frozen=True)
class Result:
    """What ``execute`` did; ``status`` is an AuditEntry status, or "repeat"."""

    status: str
    message: str
    preview: Preview | None = None
    run_id: int | None = None
    sweep_id: int | None = None
    changed: bool = False


def new_token() -> str:
    """A one-time token for a confirmation form (see ``execute``)."""
    return secrets.token_urlsafe(24)


# Selections.


def retry_selection(params) -> Selection:
    """Items by id (item=), a run's items (run=), or a list (category= and filters)."""
    kinds = [
        kind
        for kind, present in (
            ("item", bool(params.getlist("item"))),
            ("run", bool(params.get("run"))),
            ("list", bool(params.get("category")) or _has_filters(params)),
        )
        if present
    ]
    if not kinds:
        raise SelectionError("Choose items, a run, a category or a filtered list.")
    if len(kinds) > 1:
        raise SelectionError(
            f"Choose one kind of selection, not {' and '.join(kinds)}."
        )
    return {"item": _by_ids, "run": _by_run, "list": _by_list}[kinds[0]](params)


def _has_filters(params) -> bool:
    return any(params.get(name) for name in LIST_FIELDS)


def _by_ids(params) -> Selection:
    raw = params.getlist("item")
    if len(raw) > MAX_ITEMS:
        raise SelectionError(
            f"At most {MAX_ITEMS:,} items at once; retry the list they are in."
        )
    ids = sorted({_positive_int(value, "item") for value in raw})
    storable = _storable_ids(ids, SyncItem)
    found = set(SyncItem.objects.filter(pk__in=storable).values_list("pk", flat=True))
    missing = [str(pk) for pk in ids if pk not in found]
    if missing:
        raise SelectionError(f"No item with id {', '.join(missing)}.")
    target = f"item {ids[0]}" if len(ids) == 1 else f"{len(ids)} selected items"
    return Selection(
        RETRY, target, {"item": ids}, items=SyncItem.objects.filter(pk__in=ids)
    )


def _by_run(params) -> Selection:
    run_id = _positive_int(params.get("run"), "run")
    if not SyncRun.objects.filter(pk=run_id).exists():
        raise SelectionError(f"No run {run_id}.")
    touched = ItemOutcome.objects.filter(run_id=run_id).values("item_id")
    return Selection(
        RETRY,
        f"items of run {run_id}",
        {"run": run_id},
        items=SyncItem.objects.filter(pk__in=touched),
    )


def _by_list(params) -> Selection:
    slug = params.get("category") or None
    if slug is not None:
        category = categories.BY_SLUG.get(slug)
        if category is None or category.items is None:
            raise SelectionError(f"{slug!r} is not a list of items.")
    chosen = filters.filtered_items(params, slug)
    if not chosen.is_valid():
        problems = filters.filter_problems(chosen)
        raise SelectionError(f"The list's filters are not valid ({problems}).")
    used = {name: params.get(name) for name in LIST_FIELDS if params.get(name)}
    label = categories.get(slug).label if slug else "Items"
    target = f"{label} list"
    if used:
        target += " where " + ", ".join(f"{k}={v}" for k, v in sorted(used.items()))
    parameters = {"category": slug, **used} if slug else used
    return Selection(RETRY, target, parameters, items=chosen.qs)


def resync_selection(params) -> Selection:
    """One order (order=), or a store (store=) and/or a date range."""
    if params.get("order"):
        if any(params.get(name) for name in ("store", "placed_after", "placed_before")):
            raise SelectionError("Choose one order, or a store and dates, not both.")
        return _order(params.get("order"))
    parameters: dict = {}
    orders = Order.objects.all()
    target = []
    if params.get("store"):
        store = Store.objects.filter(slug=params.get("store")).first()
        if store is None:
            raise SelectionError(f"No store {params.get('store')!r}.")
        orders = orders.filter(store=store)
        parameters["store"] = store.slug
        target.append(f"store {store.slug}")
    after = _date(params.get("placed_after"), "placed_after")
    before = _date(params.get("placed_before"), "placed_before")
    if after and before and after > before:
        raise SelectionError("The range ends before it starts.")
    # A range on the index of placed_at (a __date lookup converts every row).
    if after:
        orders = orders.filter(placed_at__gte=filters.start_of(after))
        parameters["placed_after"] = after.isoformat()
    if before:
        if before < date.max:
            orders = orders.filter(
                placed_at__lt=filters.start_of(before + timedelta(days=1))
            )
        parameters["placed_before"] = before.isoformat()
    if after or before:
        target.append(f"orders placed {_range_text(after, before)}")
    if not parameters:
        raise SelectionError("Choose an order, a store or a date range.")
    return _resync(", ".join(target), parameters, orders)


def _order(raw: str) -> Selection:
    pk = _positive_int(raw, "order")
    order = Order.objects.select_related("store").filter(pk=pk).first()
    if order is None:
        raise SelectionError(f"No order {pk}.")
    return _resync(
        f"order {order.number} ({order.store.slug})",
        {"order": pk},
        Order.objects.filter(pk=pk),
    )


def _resync(target: str, parameters: dict, orders: QuerySet) -> Selection:
    items = SyncItem.objects.filter(filters.items_of(orders))
    return Selection(RESYNC, target, parameters, items=items, orders=orders)


def sweep_selection(params) -> Selection:
    """Every item HubSpot holds (a sweep has no narrower selection)."""
    synced = SyncItem.objects.exclude(hubspot_id="").exclude(state=ItemState.EXCLUDED)
    return Selection(SWEEP, "every item in HubSpot", {}, items=synced)


SELECTIONS = {RETRY: retry_selection, RESYNC: resync_selection, SWEEP: sweep_selection}


def _positive_int(raw, name: str) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise SelectionError(f"{name} must be a number, not {raw!r}.") from None
    if value < 1:
        raise SelectionError(f"{name} must be a positive number.")
    return value


def _storable_ids(ids: list[int], model) -> list[int]:
    """The ids ``model``'s id column can hold; a larger one names no row.

    Django answers an exact lookup with such an id by "nothing found", but
    sends an ``IN`` list as it is, which SQLite's driver refuses with an
    OverflowError (PostgreSQL's bigint holds up to 2**63 - 1 as well).
    """
    _, high = connection.ops.integer_field_range(model._meta.pk.get_internal_type())
    return [pk for pk in ids if high is None or pk <= high]


def _date(raw, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise SelectionError(f"{name} must be a date (YYYY-MM-DD).") from None


def _range_text(after: date | None, before: date | None) -> str:
    if after and before == after:
        return f"on {after.isoformat()}"
    if after and before:
        return f"{after.isoformat()} to {before.isoformat()}"
    return f"from {after.isoformat()}" if after else f"until {before.isoformat()}"


# Previews.


def preview(selection: Selection, now=None) -> Preview:
    """The figures of ``selection``, computed from the database; changes nothing."""
    if selection.action == SWEEP:
        return _sweep_preview(selection, now)
    result = Preview(selection.action, selection.target)
    counts = _counts(selection.items)
    if selection.action == RESYNC:
        _add_unstaged(counts, selection.orders)
    result.by_state = counts
    result.selected = _per_type(counts)
    if selection.action == RETRY:
        sent = {s: n for s, n in counts.items() if s in RETRY_STATES}
    else:
        sent = {s: n for s, n in counts.items() if s != ItemState.EXCLUDED}
    result.to_send = _per_type(sent)
    result.skipped = {
        state: sum(per_type.values())
        for state, per_type in counts.items()
        if state not in sent and sum(per_type.values())
    }
    result.also_waiting = _also_waiting(counts)
    result.calls = _run_calls(result.to_send, result.also_waiting, now)
    result.budget = asdict(budget.today(now))
    result.problem = _problem(result)
    return result


def _counts(items: QuerySet) -> dict[str, dict[str, int]]:
    rows = (
        SyncItem.objects.filter(pk__in=items.values("pk"))
        .order_by()
        .values_list("state", "object_type")
        .annotate(n=Count("pk"))
    )
    counts: dict[str, dict[str, int]] = {}
    for state, object_type, n in rows:
        counts.setdefault(state, {DEALS: 0, LINES: 0})[object_type] = n
    return dict(sorted(counts.items(), key=lambda pair: _STATE_ORDER[pair[0]]))


def _add_unstaged(counts: dict, orders: QuerySet) -> None:
    """Orders and lines without an item yet: stage creates them, pending or excluded."""
    adjustment = Q(kind=Order.Kind.STOCK_ADJUSTMENT)
    deals = orders.filter(sync_item__isnull=True).aggregate(
        sent=Count("pk", filter=~adjustment), excluded=Count("pk", filter=adjustment)
    )
    lines = LineItem.objects.filter(order__in=orders, sync_item__isnull=True).aggregate(
        sent=Count("pk", filter=~Q(order__kind=Order.Kind.STOCK_ADJUSTMENT)),
        excluded=Count("pk", filter=Q(order__kind=Order.Kind.STOCK_ADJUSTMENT)),
    )
    for key, state in (("sent", NEW), ("excluded", ItemState.EXCLUDED.value)):
        if deals[key] or lines[key]:
            current = counts.setdefault(state, {DEALS: 0, LINES: 0})
            current[DEALS] += deals[key]
            current[LINES] += lines[key]


def _per_type(counts: dict) -> dict[str, int]:
    return {
        object_type: sum(per_type[object_type] for per_type in counts.values())
        for object_type in (DEALS, LINES)
    }


def _also_waiting(counts: dict) -> dict[str, int]:
    """Sendable items outside the selection: a run sends every one of them."""
    waiting = dict(
        SyncItem.objects.filter(state__in=SENDABLE_STATES)
        .order_by()
        .values_list("object_type")
        .annotate(n=Count("pk"))
    )
    inside = _per_type({s: n for s, n in counts.items() if s in SENDABLE_STATES})
    return {t: max(waiting.get(t, 0) - inside[t], 0) for t in (DEALS, LINES)}


def _run_calls(to_send: dict, also_waiting: dict, now=None) -> dict[str, int]:
    deals = to_send[DEALS] + also_waiting[DEALS]
    lines = to_send[LINES] + also_waiting[LINES]
    size = settings.HUBSPOT_BATCH_SIZE
    calls = {
        "setup": _setup_calls(now) if deals + lines else 0,
        "deal_upserts": math.ceil(deals / size),
        "line_item_upserts": math.ceil(lines / size),
        "associations": math.ceil(lines / settings.HUBSPOT_ASSOCIATION_BATCH_SIZE),
    }
    return {**calls, "total": sum(calls.values())}


def _setup_calls(now=None) -> int:
    """One read per custom property.

    Each worker process checks them at most once an hour, but which worker
    takes the run is not known here: the estimate counts the check, so that
    it errs on the high side.
    """
    return len(CUSTOM_PROPERTIES)


def _sweep_preview(selection: Selection, now=None) -> Preview:
    # Imported here: the sweep is its own part of Tally (see _apply_sweep).
    from reconcile import sweep as sweeps

    result = Preview(selection.action, selection.target)
    # The same items as selection.items, counted without reading each one.
    held = queries.holding_ids_by_state()
    counts = dict(sorted(held.items(), key=lambda pair: _STATE_ORDER[pair[0]]))
    result.by_state = counts
    result.selected = _per_type(counts)
    result.to_send = dict(result.selected)
    deals, lines = result.selected[DEALS], result.selected[LINES]
    calls = {
        "key_list_pages": 0,
        "fingerprint_reads": math.ceil(deals / sweeps.READ_SIZE)
        + math.ceil(lines / sweeps.READ_SIZE),
        "association_reads": math.ceil(deals / sweeps.ASSOCIATION_READ_SIZE),
    }
    if settings.TALLY_SWEEP_ORPHANS and deals + lines:
        # One list page per 100 records HubSpot holds of each type, at least
        # one; a lower bound where the portal holds records of its own too.
        calls["key_list_pages"] = max(math.ceil(deals / LIST_PAGE), 1) + max(
            math.ceil(lines / LIST_PAGE), 1
        )
    result.calls = {**calls, "total": sum(calls.values())}
    result.budget = asdict(budget.today(now))
    active = Sweep.objects.filter(state__in=(Sweep.State.QUEUED, Sweep.State.RUNNING))
    running = active.values_list("pk", flat=True).first()
    if running:
        result.problem = (
            f"Sweep {running} is already queued or running; it checks the same items."
        )
    else:
        result.problem = _problem(result)
    return result


def _problem(result: Preview) -> str:
    if not result.total_to_send:
        if result.action == SWEEP:
            return "Nothing to do: no item has reached HubSpot yet."
        return "Nothing to do: no item in this selection can be sent."
    calls, left = result.calls["total"], result.budget["remaining"]
    if calls > left:
        return (
            f"Refused: this takes about {calls:,} HubSpot calls and only {left:,} "
            f"of today's {result.budget['limit']:,} are left. Nothing was changed; "
            "choose fewer items, or wait for the budget to reset at midnight UTC."
        )
    return ""


_STATE_ORDER = {
    **{state: n for n, state in enumerate(ItemState.values)},
    NEW: len(ItemState.values),
}


def state_label(state: str) -> str:
    return NEW_LABEL if state == NEW else ItemState(state).label


def skipped_text(state: str, count: int) -> str:
    """One state a preview leaves out, as a sentence: the count first, then
    what the items are and why, e.g. "2 not synced by design (never sent)".

    The state's label alone would repeat the reason ("Not synced by design
    2, not synced by design: never sent").
    """
    what, why_one, why_many = SKIP_REASONS.get(
        state, (state_label(state).lower(), "", "")
    )
    why = why_one if count == 1 else why_many
    return f"{count:,} {what} ({why})" if why else f"{count:,} {what}"


# Execution.


def execute(selection: Selection, user, token: str, seen: str = "", now=None) -> Result:
    """Do what the preview showed, once per token; write the audit entry.

    ``seen`` is the digest of the preview the person confirmed: when the
    selection no longer matches it, nothing is done and the caller shows the
    new preview. A token already used answers "repeat" with the first run.
    """
    if not TOKEN.fullmatch(token or ""):
        return Result("refused", "This confirmation has no valid token; look again.")
    with transaction.atomic():
        # One confirmation at a time per person: a second submit of the same
        # form waits here, then finds the token used.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        earlier = _used(user, token)
        if earlier is not None:
            return Result(
                "repeat",
                "This confirmation was already sent; nothing was done twice.",
                run_id=earlier.run_id,
                sweep_id=earlier.sweep_id,
            )
        current = preview(selection, now)
        if seen and seen != current.digest:
            message = (
                "The selection changed since the preview; nothing was done. "
                "Check the new figures and confirm again."
            )
            record(user, selection, current, "refused", message, token=token)
            return Result("refused", message, preview=current, changed=True)
        if not current.ready:
            record(user, selection, current, "refused", current.problem, token=token)
            return Result("refused", current.problem, preview=current)
        try:
            with transaction.atomic():
                result = _APPLY[selection.action](selection, user, current)
        except Exception as exc:
            logger.exception("%s of %s failed", selection.action, selection.target)
            message = f"Nothing was done: {exc.__class__.__name__}: {exc}"[:1000]
            record(user, selection, current, "failed", message, token=token)
            return Result("failed", message, preview=current)
        record(
            user,
            selection,
            current,
            "done",
            result.message,
            token=token,
            run_id=result.run_id,
            sweep_id=result.sweep_id,
        )
    return _enqueue(result, selection, user, current, token)


def _used(user, token: str) -> AuditEntry | None:
    return (
        AuditEntry.objects.filter(user=user, parameters__token=token)
        .exclude(status=AuditEntry.Status.REFUSED)
        .first()
    )


def _apply_retry(selection: Selection, user, current: Preview) -> Result:
    chosen = selection.items.filter(state__in=RETRY_STATES)
    changed = engine.mark_pending(chosen)
    run = engine.create_run(trigger=RETRY, requested_by=user.get_username())
    return Result(
        "done",
        f"Run {run.pk} queued: {counted(current.total_to_send, 'item')} to send "
        f"({changed:,} set back to pending).",
        preview=current,
        run_id=run.pk,
    )


def _apply_resync(selection: Selection, user, current: Preview) -> Result:
    staged = stage(selection.orders)
    changed = engine.mark_pending(selection.items, relink=True)
    run = engine.create_run(trigger=RESYNC, requested_by=user.get_username())
    return Result(
        "done",
        f"Run {run.pk} queued: {counted(current.total_to_send, 'item')} to send again "
        f"({staged.created:,} new, {staged.changed:,} changed in the store, "
        f"{changed:,} set back to pending).",
        preview=current,
        run_id=run.pk,
    )


def _apply_sweep(selection: Selection, user, current: Preview) -> Result:
    # Imported here: the sweep is its own part of Tally, and the retry and
    # resync actions must work whether or not it is installed.
    from reconcile.sweep import create_sweep

    sweep = create_sweep(trigger="dashboard", requested_by=user.get_username())
    return Result(
        "done",
        f"Sweep {sweep.pk} queued: {counted(current.total_to_send, 'item')} to check.",
        preview=current,
        sweep_id=sweep.pk,
    )


_APPLY = {RETRY: _apply_retry, RESYNC: _apply_resync, SWEEP: _apply_sweep}


def _enqueue(
    result: Result, selection: Selection, user, current: Preview, token: str
) -> Result:
    """Hand the run or sweep to the workers, once its rows are committed."""
    try:
        if result.run_id is not None:
            tasks.enqueue("start_run", result.run_id)
        else:
            from reconcile.tasks import enqueue_sweep

            enqueue_sweep(result.sweep_id)
    except Exception as exc:
        logger.exception(
            "Could not queue %s for %s", selection.action, selection.target
        )
        message = f"Could not queue the work: {exc.__class__.__name__}. Try again."
        if result.run_id is not None:
            SyncRun.objects.filter(pk=result.run_id).update(
                state=SyncRun.State.FAILED, finished=timezone.now(), error=message
            )
        AuditEntry.objects.filter(user=user, parameters__token=token).update(
            status=AuditEntry.Status.FAILED, result=message
        )
        return Result("failed", message, current, result.run_id, result.sweep_id)
    return result


def record(
    user,
    selection: Selection | None,
    current: Preview | None,
    status: str,
    result: str,
    *,
    action: str = "",
    target: str = "",
    parameters: dict | None = None,
    token: str = "",
    run_id: int | None = None,
    sweep_id: int | None = None,
) -> AuditEntry:
    """Write one audit entry; the selection, when known, names what it was."""
    parameters = dict(selection.parameters if selection else parameters or {})
    if token:
        parameters["token"] = token
    return AuditEntry.objects.create(
        user=user if user.is_authenticated else None,
        username=user.get_username(),
        action=selection.action if selection else action,
        target=(selection.target if selection else target)[:300],
        parameters=parameters,
        preview=current.as_dict() if current else {},
        status=status,
        result=result,
        run_id=run_id,
        sweep_id=sweep_id,
    )


def refuse(user, action: str, params, reason: str) -> AuditEntry:
    """Audit a POST refused before any selection was made (permission, bad input)."""
    raw = {key: params.getlist(key) for key in params}
    parameters = {k: v[0] if len(v) == 1 else v for k, v in raw.items()}
    target = params.urlencode()[:300] or "(nothing chosen)"
    return record(
        user,
        None,
        None,
        "refused",
        reason,
        action=action,
        target=target,
        parameters=parameters,
    )
