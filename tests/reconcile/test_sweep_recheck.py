"""A retry or resync re-checks the orders it sent, at once, with a targeted sweep."""

import pytest
from django.db.models import Max
from django_q.conf import Conf

from hubspot_sync import engine
from hubspot_sync.models import ApiCall, ItemState, SyncItem, SyncRun
from hubspot_sync.sandbox.remote import SandboxControl
from reconcile.models import CategorySnapshot, OrderProblem, Sweep
from reconcile.sweep import SweepInProgress, create_sweep, run_sweep_inline
from tests.factories import item, make_staged_order, make_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal_edited_in_hubspot(hubspot):
    """Orders 1001 and 1002 synced; 1001's deal amount set to 0 in HubSpot; swept."""
    store = make_store()
    make_staged_order(store, "1001", lines=2)
    make_staged_order(store, "1002", lines=1)
    engine.run_inline(engine.create_run().pk)
    SandboxControl(hubspot.url, "sandbox-token").edit(
        "deals", item("shop:1001").hubspot_id, {"amount": "0"}
    )
    run_sweep_inline(create_sweep().pk)
    assert item("shop:1001").state == ItemState.MISMATCH
    assert list(OrderProblem.objects.values_list("order__number", "code")) == [
        ("1001", "AMOUNT_SUM")
    ]
    return item("shop:1001")


def test_a_retried_order_is_rechecked_and_leaves_the_problem_list(
    deal_edited_in_hubspot, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(Conf, "SYNC", True)
    snapshots = CategorySnapshot.objects.count()
    engine.mark_pending(SyncItem.objects.filter(pk=deal_edited_in_hubspot.pk))
    run = engine.create_run(trigger="retry", requested_by="olga")
    # The last call's id, not the number of calls: ids keep counting across
    # tests on PostgreSQL.
    calls_before = ApiCall.objects.aggregate(last=Max("pk"))["last"]

    with django_capture_on_commit_callbacks(execute=True):
        engine.run_inline(run.pk)

    recheck = Sweep.objects.get(trigger="after-run")
    assert (recheck.state, recheck.scope) == (
        Sweep.State.DONE,
        {"orders": [deal_edited_in_hubspot.order.pk]},
    )
    assert recheck.requested_by == f"run {run.pk}"
    assert recheck.items_total == 3  # the deal and its two lines, not order 1002
    assert item("shop:1001").state == ItemState.VERIFIED
    assert OrderProblem.objects.count() == 0
    # No key scan (list pages) in a targeted re-check, and no trend point.
    endpoints = ApiCall.objects.filter(pk__gt=calls_before).values_list(
        "endpoint", flat=True
    )
    assert not [e for e in endpoints if e.startswith("/crm/v3/objects/deals?")]
    assert CategorySnapshot.objects.count() == snapshots


def test_a_plain_sync_run_is_not_rechecked(deal_edited_in_hubspot):
    run = engine.create_run(trigger="command")

    engine.run_inline(run.pk)

    assert SyncRun.objects.get(pk=run.pk).state == SyncRun.State.DONE
    assert not Sweep.objects.filter(trigger="after-run").exists()


def test_a_targeted_recheck_may_run_beside_a_full_sweep_but_not_two_full_ones():
    full = Sweep.objects.create(state=Sweep.State.RUNNING)

    targeted = create_sweep(trigger="after-run", orders=[3, 1, 3])

    assert targeted.scope == {"orders": [1, 3]}
    with pytest.raises(SweepInProgress, match=f"Sweep {full.pk} is already running"):
        create_sweep()
