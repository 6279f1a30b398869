"""A sync of real orders through django-q2: in sync mode, and a real qcluster."""

import gzip
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django_q.conf import Conf

from hubspot_sync import engine, tasks
from hubspot_sync.models import Association, ItemState, SyncItem, SyncRun
from reconcile.models import LineItem, Order
from tests.hubspot_sync import workers

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "online-retail-2010-12_2011-01.csv.gz"
DEADLINE_SECONDS = 120
FIRST_ROWS = 600


def import_first_invoices(folder: Path, rows: int) -> int:
    """Import the bundled file's whole invoices among its first ``rows`` rows."""
    with gzip.open(DATA, "rt", encoding="utf-8", newline="") as source:
        lines = [next(source) for _ in range(rows + 1)]
    last_invoice = lines[-1].split(",", 1)[0]
    whole = [line for line in lines[1:] if not line.startswith(last_invoice + ",")]
    path = folder / "first-invoices.csv"
    path.write_text(lines[0] + "".join(whole), encoding="utf-8")
    call_command("import_orders", str(path), format="online-retail", verbosity=0)
    return len(whole)


@pytest.fixture
def real_orders(tmp_path):
    """The bundled file's first whole invoices (a few hundred real lines)."""
    return import_first_invoices(tmp_path, FIRST_ROWS)


def assert_everything_verified_in(hubspot) -> None:
    synced = SyncItem.objects.exclude(state=ItemState.EXCLUDED)
    assert set(synced.values_list("state", flat=True)) == {ItemState.VERIFIED}
    lines = synced.filter(object_type="line_items")
    assert set(lines.values_list("association", flat=True)) == {Association.LINKED}
    assert hubspot.store.count("line_items") == lines.count()
    assert hubspot.store.count("deals") == synced.filter(object_type="deals").count()
    for order in Order.objects.exclude(kind=Order.Kind.STOCK_ADJUSTMENT):
        deal = hubspot.store.get("deals", order.sync_item.hubspot_id)
        amounts = [
            line.quantity * line.unit_price
            for line in LineItem.objects.filter(order=order)
        ]
        # Credit notes keep their sign on the deal, not on the lines.
        assert Decimal(deal.properties["amount"]) == sum(amounts, Decimal(0))
        linked = hubspot.store.links_from([deal.id], "line_items")[deal.id]
        assert len(linked) == len(amounts)


@pytest.fixture
def qcluster(hubspot, tmp_path):
    log = tmp_path / "qcluster.log"
    process = workers.start_qcluster(log, hubspot.url)
    yield process, log
    workers.stop_qcluster(process)


def _wait_for(run_id: int, qcluster) -> SyncRun:
    process, log = qcluster
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        run = SyncRun.objects.get(pk=run_id)
        if run.state in (SyncRun.State.DONE, SyncRun.State.FAILED):
            return run
        assert process.poll() is None, workers.tail(log)
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish in {DEADLINE_SECONDS} s")


@pytest.mark.django_db
def test_it_syncs_real_orders_with_django_q_in_sync_mode(
    hubspot, real_orders, monkeypatch
):
    monkeypatch.setattr(Conf, "SYNC", True)
    run = engine.create_run()

    tasks.enqueue("start_run", run.pk)

    run.refresh_from_db()
    assert run.state == SyncRun.State.DONE, run.error
    sent = SyncItem.objects.exclude(state=ItemState.EXCLUDED)
    assert run.items_total == sent.count()
    assert run.summary == {
        "verified": sent.count(),
        "associated": sent.filter(object_type="line_items").count(),
    }
    assert_everything_verified_in(hubspot)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_syncs_real_orders_through_a_real_worker(hubspot, real_orders, qcluster):
    run = engine.create_run()

    tasks.enqueue("start_run", run.pk)
    run = _wait_for(run.pk, qcluster)

    assert run.state == SyncRun.State.DONE, run.error
    assert run.batches_done == run.batches_total
    assert_everything_verified_in(hubspot)
