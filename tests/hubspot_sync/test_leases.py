"""Leases: two workers never send one item; a dead worker's batch is taken over."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from hubspot_sync import engine
from hubspot_sync.client import HubSpotClient
from hubspot_sync.models import ApiCall, ItemState, SyncBatch, SyncItem, SyncRun
from hubspot_sync.setup import ensure_properties
from tests.hubspot_sync.test_engine import make_orders

pytestmark = pytest.mark.django_db


def collect():
    steps: list[tuple[str, int]] = []
    return steps, lambda step, arg: steps.append((step, arg))


def test_it_leaves_an_item_to_the_batch_that_holds_it(hubspot):
    make_orders(count=1, lines_each=3)
    other = SyncBatch.objects.create(run=SyncRun.objects.create(), kind="deal_upsert")
    held = SyncItem.objects.get(key="test:536365:2")
    held.lease_batch = other
    held.lease_until = timezone.now() + timedelta(minutes=5)
    held.save()

    run = engine.run_inline(engine.create_run().pk)

    planned = [i for b in run.batches.all() for i in b.item_ids]
    assert held.pk not in planned
    assert len(planned) == 3 + 2  # the deal, two lines, two links
    held.refresh_from_db()
    assert held.state == ItemState.PENDING
    assert SyncItem.objects.filter(lease_batch__isnull=False).count() == 1


def test_it_releases_every_lease_when_a_run_ends(hubspot):
    make_orders(count=2, lines_each=5)

    engine.run_inline(engine.create_run().pk)

    assert not SyncItem.objects.filter(lease_batch__isnull=False).exists()
    assert not SyncItem.objects.filter(lease_until__isnull=False).exists()


def test_it_takes_over_a_dead_workers_batch_and_settles_it_by_reading(
    hubspot, settings
):
    make_orders(count=1, lines_each=4)
    run = engine.create_run()
    steps, dispatch = collect()
    engine.start_run(run.pk, dispatch)
    line_batch = SyncBatch.objects.get(run=run, kind="line_item_upsert")
    items = list(SyncItem.objects.filter(pk__in=line_batch.item_ids))
    # A worker took the batch, wrote it to HubSpot, and died before recording.
    client = HubSpotClient()
    client.batch_upsert(
        "line_items",
        [
            {"id": i.key, "idProperty": "tally_line_key", "properties": i.properties}
            for i in items
        ],
    )
    long_ago = timezone.now() - timedelta(seconds=settings.TALLY_LEASE_SECONDS + 60)
    SyncBatch.objects.filter(pk=line_batch.pk).update(state="running", started=long_ago)
    SyncItem.objects.filter(lease_batch=line_batch).update(lease_until=long_ago)

    steps.clear()
    assert engine.recover_stalled(dispatch) == 1
    assert steps == [("process_batch", line_batch.pk)]
    engine.process_batch(line_batch.pk, dispatch)

    calls = ApiCall.objects.filter(batch=line_batch)
    assert [c.endpoint for c in calls] == ["/crm/v3/objects/line_items/batch/read"]
    for item in SyncItem.objects.filter(pk__in=line_batch.item_ids):
        assert item.state == ItemState.VERIFIED
        assert item.outcomes.get().detail["settled_by"] == "read"
    line_batch.refresh_from_db()
    assert (line_batch.state, line_batch.claims) == ("done", 1)
    assert hubspot.store.count("line_items") == 4


def test_it_does_not_take_a_batch_from_a_live_worker(hubspot):
    make_orders(count=1, lines_each=2)
    run = engine.create_run()
    steps, dispatch = collect()
    engine.start_run(run.pk, dispatch)
    batch = SyncBatch.objects.filter(run=run).first()
    SyncBatch.objects.filter(pk=batch.pk).update(
        state="running", started=timezone.now()
    )

    steps.clear()
    assert engine.recover_stalled(dispatch) == 0
    engine.process_batch(batch.pk, dispatch)  # a duplicate delivery of its task

    assert ApiCall.objects.filter(batch=batch).count() == 0


def test_a_batch_waiting_in_a_long_queue_is_handed_out_again_less_often(settings):
    """Queued again after one lease, then two, four ... at most sixteen."""
    settings.TALLY_LEASE_SECONDS = 330
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        run = SyncRun.objects.create(state="running", started=timezone.now())
        batch = SyncBatch.objects.create(run=run, kind="line_item_upsert")
        handed_out = []
        minutes = 0
        while minutes < 8 * 60:  # the recover_stalled schedule, every minute
            traveller.shift(timedelta(minutes=1))
            minutes += 1
            if engine.recover_stalled(lambda step, arg: None):
                handed_out.append(minutes)

    # 5.5 min, then +5.5, +11, +22, +44, +88, +88 ... (rounded up to a minute)
    gaps = [b - a for a, b in zip([0, *handed_out], handed_out, strict=False)]
    assert gaps == [6, 6, 11, 22, 44, 88, 88, 88, 88]
    batch.refresh_from_db()
    assert (batch.redispatches, batch.state) == (9, "queued")


def test_a_batch_taken_since_is_handed_out_at_once_when_its_lease_runs_out(
    settings,
):
    settings.TALLY_LEASE_SECONDS = 330
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        run = SyncRun.objects.create(state="running", started=timezone.now())
        batch = SyncBatch.objects.create(run=run, kind="line_item_upsert")
        for _ in range(3):  # handed out at 6, 12 and 23 minutes
            while not engine.recover_stalled(lambda step, arg: None):
                traveller.shift(timedelta(minutes=1))
        # A worker takes it, then dies: its lease counts, not the back-off.
        traveller.shift(timedelta(minutes=1))
        SyncBatch.objects.filter(pk=batch.pk).update(
            state="running", started=timezone.now()
        )
        traveller.shift(timedelta(seconds=331))

        assert engine.recover_stalled(lambda step, arg: None) == 1


def test_it_finishes_a_run_whose_last_step_was_lost(hubspot, settings):
    make_orders(count=1, lines_each=2)
    run = engine.run_inline(engine.create_run().pk)
    long_ago = timezone.now() - timedelta(seconds=settings.TALLY_LEASE_SECONDS + 60)
    SyncRun.objects.filter(pk=run.pk).update(
        state="running", phase="associations", batches_done=1, started=long_ago
    )

    engine.recover_stalled(lambda step, arg: None)

    run.refresh_from_db()
    assert (run.state, run.batches_done) == ("done", run.batches_total)


def test_it_sends_again_items_in_the_states_an_operator_retries(hubspot):
    make_orders(count=1, lines_each=2)
    SyncItem.objects.filter(key="test:536365:1").update(state=ItemState.MISMATCH)
    SyncItem.objects.exclude(key="test:536365:1").update(state=ItemState.VERIFIED)

    run = engine.run_inline(engine.create_run(retry=("mismatch",)).pk)

    assert run.items_total == 1
    assert SyncItem.objects.get(key="test:536365:1").state == ItemState.VERIFIED


def test_it_refuses_to_retry_a_state_that_needs_no_retry():
    with pytest.raises(ValueError, match="cannot retry items in state verified"):
        engine.create_run(retry=("verified",))


def test_it_has_a_schedule_that_recovers_stalled_batches():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="tally-recover-stalled")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "hubspot_sync.tasks.recover_stalled",
        Schedule.MINUTES,
        1,
    )


def test_it_creates_the_properties_only_once(hubspot):
    client = HubSpotClient()
    ensure_properties(client)

    report = ensure_properties(client)

    assert report.created == []
