"""Chaos: two real workers, a hostile HubSpot, and one worker killed mid-run.

Scaled mode only (PostgreSQL and Redis): the workers are other processes that
share the database, the django-q2 queue and the rate budget, as on several
machines.
"""

import threading
import time
from collections import Counter
from contextlib import contextmanager
from decimal import Decimal

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.db.models import Q

from hubspot_sync import engine, tasks
from hubspot_sync.models import (
    ApiCall,
    Association,
    ItemOutcome,
    ItemState,
    SyncBatch,
    SyncItem,
    SyncRun,
)
from hubspot_sync.properties import STORE_KEY_PROPERTY
from hubspot_sync.sandbox.server import SandboxServer
from reconcile.mapping import stage
from reconcile.models import LineItem, Order
from tests.hubspot_sync import workers
from tests.hubspot_sync.test_tasks import import_first_invoices

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL
        or not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="scaled mode only: needs DATABASE_URL on PostgreSQL and REDIS_URL",
    ),
]

ROWS = 4000  # the bundled file's first rows: 214 orders, 3,961 line items
BAD_PRICES = 5
BAD_PRICE_SPACING = 700  # line items apart: each in a batch of its own
LEASE_SECONDS = 20
DEADLINE_SECONDS = 150
RATE_LIMIT = 10  # requests per second
NEIGHBOUR_PATH = "/crm/v3/properties/deals/dealname"
QUIRKS = {
    "html_5xx": 0.05,
    "connection_reset": 0.05,
    "timeout_after_write": 0.05,
    "drop_result": 0.01,
    # Tally writes by upsert, never by batch update: this one stays idle.
    "silent_skip_update": 1,
    "reject_whole_batch": 0.1,
}
WORKER_ENV = {
    "TALLY_Q_WORKERS": "2",
    "TALLY_LEASE_SECONDS": str(LEASE_SECONDS),
    # A task may run less than the short lease (tally.E009 refuses otherwise).
    "TALLY_TASK_TIMEOUT": str(LEASE_SECONDS - 2),
    # Below the sandbox's hold, so that a held answer is a client timeout.
    "HUBSPOT_TIMEOUT": "2",
    "HUBSPOT_MAX_ATTEMPTS": "3",
    "LOG_LEVEL": "WARNING",
}
# Every item is verified or flagged with a reason a person can act on.
FLAGGED = {
    ItemState.MISMATCH,
    ItemState.FAILED,
    ItemState.UNREPORTED_SKIP,
    ItemState.TRANSIENT,
    ItemState.UNKNOWN,
    ItemState.NOT_FOUND,
}


@pytest.fixture
def hubspot_portal(tmp_path):
    """A sandbox with a small rate limit; the test makes it hostile later."""
    server = SandboxServer(
        tmp_path / "sandbox.sqlite3", rate_limit=RATE_LIMIT, interval_ms=1000
    )
    with server:
        yield server


@pytest.fixture
def two_workers(hubspot_portal, tmp_path):
    logs = [tmp_path / f"qcluster-{n}.log" for n in (1, 2)]
    processes = [
        workers.start_qcluster(log, hubspot_portal.url, **WORKER_ENV) for log in logs
    ]
    yield list(zip(processes, logs, strict=True))
    for process in processes:
        workers.stop_qcluster(process)


@contextmanager
def noisy_neighbour(server: SandboxServer):
    """Another integration on the same app, using up its limit in bursts.

    Tally's workers learn the limit from HubSpot's headers and share one
    budget, so they alone stay under it; the 429s come from this neighbour.
    """
    stop = threading.Event()

    def bursts() -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = "Bearer sandbox-token"
            while not stop.is_set():
                for _ in range(RATE_LIMIT):
                    try:
                        session.get(f"{server.url}{NEIGHBOUR_PATH}", timeout=5)
                    except requests.RequestException:
                        pass  # the sandbox's quirks meet the neighbour too
                stop.wait(3)

    thread = threading.Thread(target=bursts, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _spoil_prices(count: int) -> list[int]:
    """Give a few sale lines, far apart, a negative price: HubSpot refuses it."""
    sales = LineItem.objects.filter(order__kind=Order.Kind.SALE).order_by("pk")
    lines = list(sales)[::BAD_PRICE_SPACING][:count]
    for line in lines:
        line.unit_price = Decimal("-1.00")
    LineItem.objects.bulk_update(lines, ["unit_price"])
    stage(Order.objects.filter(pk__in={line.order_id for line in lines}))
    return [line.sync_item_id for line in lines]


def _wait_until_planned(run_id: int, deadline: float) -> None:
    """Until the run has its batches, past the checks of HubSpot's properties."""
    while time.monotonic() < deadline:
        run = SyncRun.objects.get(pk=run_id)
        assert run.state != SyncRun.State.FAILED, run.error
        if run.phase != SyncRun.Phase.PLANNING:
            return
        time.sleep(0.05)
    raise AssertionError("the run was never planned")


def _kill_one_while_it_holds_a_batch(run_id: int, victim, deadline: float) -> None:
    """SIGKILL one cluster once three batches run at once.

    Each cluster runs two at most, so then at least one is the victim's.
    """
    while time.monotonic() < deadline:
        running = SyncBatch.objects.filter(run=run_id, state=SyncBatch.State.RUNNING)
        if running.count() >= 3:
            workers.kill_qcluster(victim)
            return
        run = SyncRun.objects.get(pk=run_id)
        assert run.state != SyncRun.State.FAILED, run.error
        assert run.state != SyncRun.State.DONE, "the run ended before the kill"
        time.sleep(0.05)
    raise AssertionError("three batches never ran at once")


def _recover_until_done(run_id: int, survivor, log, deadline: float) -> SyncRun:
    """What the every-minute schedule does, more often."""
    while time.monotonic() < deadline:
        run = SyncRun.objects.get(pk=run_id)
        if run.state in (SyncRun.State.DONE, SyncRun.State.FAILED):
            return run
        assert survivor.poll() is None, workers.tail(log)
        engine.recover_stalled(tasks.enqueue)
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish in {DEADLINE_SECONDS} s")


def test_every_item_ends_accounted_for_when_a_worker_dies_mid_run(
    hubspot_portal, two_workers, tmp_path, settings
):
    # This process runs the recovery too (_recover_until_done): with the
    # workers' lease, not the default 330 s. It once passed only thanks to the
    # migration's every-minute schedule, which an earlier transactional test's
    # flush removes.
    settings.TALLY_LEASE_SECONDS = LEASE_SECONDS
    import_first_invoices(tmp_path, ROWS)
    bad = _spoil_prices(BAD_PRICES)
    (victim, _), (survivor, survivor_log) = two_workers
    deadline = time.monotonic() + DEADLINE_SECONDS
    run = engine.create_run()

    tasks.enqueue("start_run", run.pk)
    # Hostile once the run is planned: before, one of the 16 property checks
    # failing three times fails the whole run (as it should, and visibly).
    _wait_until_planned(run.pk, deadline)
    hubspot_portal.configure(quirks=QUIRKS, hold_seconds=3, seed=11)
    with noisy_neighbour(hubspot_portal):
        _kill_one_while_it_holds_a_batch(run.pk, victim, deadline)
        run = _recover_until_done(run.pk, survivor, survivor_log, deadline)

    assert run.state == SyncRun.State.DONE, run.error
    report = _report(run)
    print(f"\nchaos: {report}")
    _assert_every_item_verified_or_flagged()
    assert not SyncItem.objects.filter(pk__in=bad, state=ItemState.VERIFIED).exists()
    assert not SyncItem.objects.exclude(lease_batch=None, lease_until=None).exists()
    _assert_one_record_per_store_key(hubspot_portal)
    _assert_verified_items_are_in(hubspot_portal)
    assert report["taken_over"], "no batch of the killed worker was taken over"
    assert 429 in report["calls"], "no 429 burst reached the workers"
    _assert_outcomes_are_json_objects(run)


def _report(run: SyncRun) -> dict:
    items = SyncItem.objects.exclude(state=ItemState.EXCLUDED)
    calls = ApiCall.objects.filter(run=run)
    return {
        "items": dict(Counter(items.values_list("state", flat=True))),
        "summary": run.summary,
        "calls": dict(Counter(calls.values_list("status", flat=True))),
        "taken_over": list(
            run.batches.filter(claims__gt=1).values_list("pk", "claims")
        ),
        "seconds": round((run.finished - run.started).total_seconds()),
    }


def _assert_every_item_verified_or_flagged() -> None:
    synced = SyncItem.objects.exclude(state=ItemState.EXCLUDED)
    assert set(synced.values_list("state", flat=True)) <= {ItemState.VERIFIED, *FLAGGED}
    assert not synced.filter(outcomes=None).exists()
    unexplained = Q(reason_code="") | Q(next_step="")
    flagged = synced.exclude(state=ItemState.VERIFIED).filter(unexplained)
    assert not flagged.exists(), list(flagged.values_list("key", "state")[:10])
    lines = synced.filter(object_type="line_items", state=ItemState.VERIFIED)
    links = set(lines.values_list("association", flat=True))
    assert links <= {Association.LINKED, Association.FAILED}
    unlinked = lines.filter(association=Association.FAILED).filter(unexplained)
    assert not unlinked.exists(), list(unlinked.values_list("key", flat=True)[:10])


def _assert_one_record_per_store_key(hubspot: SandboxServer) -> None:
    for object_type, key_property in STORE_KEY_PROPERTY.items():
        keys = Counter(
            record.properties.get(key_property)
            for record in hubspot.store.all(object_type)
        )
        shared = {key: n for key, n in keys.items() if n > 1}
        assert not shared, f"store keys held by two {object_type}: {shared}"


def _assert_verified_items_are_in(hubspot: SandboxServer) -> None:
    for item in SyncItem.objects.filter(state=ItemState.VERIFIED):
        record = hubspot.store.get(item.object_type, item.hubspot_id)
        assert record is not None, item.key
        assert record.properties[STORE_KEY_PROPERTY[item.object_type]] == item.key


def _assert_outcomes_are_json_objects(run: SyncRun) -> None:
    """The ledger writes detail as text; PostgreSQL must hold JSON objects."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT jsonb_typeof(detail) FROM hubspot_sync_itemoutcome"
            " WHERE run_id = %s",
            [run.pk],
        )
        assert [row[0] for row in cursor.fetchall()] == ["object"]
    outcome = ItemOutcome.objects.filter(run=run).first()
    assert isinstance(outcome.detail, dict)
