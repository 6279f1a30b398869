"""The import job's polling state machine, with time travelled, not slept."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from hubspot_sync import engine, imports
from hubspot_sync.client import HubSpotClient
from hubspot_sync.models import ImportJob, ItemState, SyncItem, SyncRun
from hubspot_sync.sandbox import imports as sandbox_imports
from tests.hubspot_sync.test_engine import make_orders

pytestmark = pytest.mark.django_db


@pytest.fixture
def traveller(hubspot, monkeypatch):
    """Time stopped for Tally and the sandbox; a poll's wait moves it on."""
    sandbox_imports.configure(hubspot.store, 20)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        monkeypatch.setattr(imports, "sleep", traveller.shift)
        yield traveller


def planned_jobs(count=1, lines=1):
    make_orders(count, lines_each=lines)
    run = engine.create_run(via_imports=True)
    steps = []
    engine.start_run(run.pk, lambda step, arg: steps.append((step, arg)))
    assert {step for step, _ in steps} == {"start_import"}
    return run, [ImportJob.objects.get(pk=arg) for _, arg in steps]


def step(name, job_id, **kwargs):
    """Run one step; return the steps it asked for next."""
    asked = []
    engine.STEPS[name](job_id, lambda s, a: asked.append(s), **kwargs)
    return asked


def test_it_polls_with_backoff_through_every_state_to_done(traveller):
    run, (deal_job, _) = planned_jobs()

    assert step("start_import", deal_job.pk) == ["poll_import"]
    deal_job.refresh_from_db()
    assert deal_job.state == "STARTED" and deal_job.hubspot_id
    assert deal_job.next_poll == timezone.now() + timedelta(seconds=2)
    assert deal_job.deadline == timezone.now() + timedelta(minutes=60)

    seen, gaps = [], []
    while True:
        before = timezone.now()
        asked = step("poll_import", deal_job.pk)
        deal_job.refresh_from_db()
        seen.append(deal_job.state)
        gaps.append((timezone.now() - before).total_seconds())
        if asked != ["poll_import"]:
            break

    assert seen[0] == "STARTED" and "PROCESSING" in seen and seen[-1] == "DONE"
    assert gaps[:4] == [2, 3, 4.5, 6.75]  # 2 s, then ×1.5 ...
    assert deal_job.polls == len(seen)
    assert deal_job.last_poll == timezone.now() and deal_job.finished
    assert SyncItem.objects.get(pk=deal_job.item_ids[0]).state == ItemState.VERIFIED


def test_the_backoff_stops_at_its_ceiling(settings):
    settings.TALLY_IMPORT_POLL_SECONDS = 2
    settings.TALLY_IMPORT_POLL_MAX_SECONDS = 30
    assert [imports._interval(n) for n in (0, 1, 6, 7, 20)] == [
        2,
        3,
        22.78125,
        30,
        30,
    ]


def test_a_poll_not_yet_due_waits_for_its_time(traveller):
    _, (job, _) = planned_jobs()
    step("start_import", job.pk)

    assert step("poll_import", job.pk, max_sleep=1) == ["poll_import"]

    job.refresh_from_db()
    assert job.polls == 0  # not due within a second: nothing was sent


def test_a_fourth_import_is_deferred_until_one_ends(traveller):
    _, (deal_job, _) = planned_jobs()
    client = HubSpotClient()
    request, content = imports.import_file(deal_job, [])
    name = request["files"][0]["fileName"]
    # Three other imports keep HubSpot's three slots busy.
    others = [client.start_import(request, [(name, content)]) for _ in range(3)]
    traveller.shift(6)  # past their STARTED quarter: all three PROCESSING

    step("start_import", deal_job.pk)
    deal_job.refresh_from_db()
    while deal_job.state == "STARTED":
        step("poll_import", deal_job.pk)
        deal_job.refresh_from_db()

    assert deal_job.state == "DEFERRED"
    assert [client.get_import(o.id).state for o in others] == ["PROCESSING"] * 3
    while step("poll_import", deal_job.pk) == ["poll_import"]:
        pass
    deal_job.refresh_from_db()
    assert deal_job.state == "DONE"
    assert [client.get_import(o.id).state for o in others] == ["DONE"] * 3
    client.close()


def test_a_job_past_its_deadline_is_canceled_and_flagged(traveller, settings, hubspot):
    settings.TALLY_IMPORT_DEADLINE_MINUTES = 1
    sandbox_imports.configure(hubspot.store, 3600)
    run, (job, line_job) = planned_jobs()
    step("start_import", job.pk)

    while step("poll_import", job.pk) == ["poll_import"]:
        pass

    job.refresh_from_db()
    assert job.state == "PAST_DEADLINE" and job.finished
    assert "after 1 minutes" in job.error
    assert HubSpotClient().get_import(job.hubspot_id).state == "CANCELED"
    item = SyncItem.objects.get(pk=job.item_ids[0])
    assert (
        item.state == ItemState.UNKNOWN and item.reason_code == "IMPORT_PAST_DEADLINE"
    )
    assert item.lease_batch is None
    run.refresh_from_db()
    assert run.batches_done == 1


def test_a_cancel_ends_the_job_and_frees_its_items(traveller):
    run, (job, line_job) = planned_jobs()
    step("start_import", job.pk)

    assert engine.cancel_import(job.pk, "demo", lambda s, a: None)

    job.refresh_from_db()
    assert job.state == "CANCELED" and job.canceled_by == "demo"
    assert HubSpotClient().get_import(job.hubspot_id).state == "CANCELED"
    item = SyncItem.objects.get(pk=job.item_ids[0])
    assert item.state == ItemState.UNKNOWN and item.reason_code == "IMPORT_CANCELED"
    # The run page shows its batch as failed, with why, not "Done".
    job.batch.refresh_from_db()
    assert (job.batch.state, job.batch.error) == (
        "failed",
        "The HubSpot import ended canceled; its items go by batch on the next sync. "
        + job.error,
    )
    assert step("poll_import", job.pk) == []  # the queued poll finds it ended
    assert not engine.cancel_import(job.pk, "demo", lambda s, a: None)


def test_a_job_not_posted_yet_is_canceled_without_hubspot(traveller):
    _, (job, _) = planned_jobs()

    assert engine.cancel_import(job.pk, "demo", lambda s, a: None)

    job.refresh_from_db()
    assert job.state == "CANCELED" and job.hubspot_id == ""
    assert step("start_import", job.pk) == []


def test_an_import_canceled_in_hubspot_is_flagged(traveller):
    _, (job, _) = planned_jobs()
    step("start_import", job.pk)
    HubSpotClient().cancel_import(ImportJob.objects.get(pk=job.pk).hubspot_id)

    assert step("poll_import", job.pk) == []

    job.refresh_from_db()
    assert job.state == "CANCELED" and job.finished
    assert SyncItem.objects.get(pk=job.item_ids[0]).reason_code == "IMPORT_CANCELED"


def test_the_run_links_lines_once_every_job_ended(traveller, hubspot):
    sandbox_imports.configure(hubspot.store, 0)
    run, jobs = planned_jobs(2, lines=2)
    pending = []
    for job in jobs:
        engine.start_import(job.pk, lambda s, a: pending.append((s, a)))
    while pending:
        name, arg = pending.pop(0)
        engine.STEPS[name](arg, lambda s, a: pending.append((s, a)))

    run.refresh_from_db()
    assert run.state == SyncRun.State.DONE
    assert set(SyncItem.objects.values_list("state", flat=True)) == {"verified"}


def test_recovery_posts_and_polls_jobs_whose_step_was_lost(traveller):
    _, (job, line_job) = planned_jobs()
    step("start_import", job.pk)
    traveller.shift(3600)

    asked = []
    engine.recover_stalled(lambda s, a: asked.append((s, a)))

    assert ("start_import", line_job.pk) in asked
    assert ("poll_import", job.pk) in asked
    assert not any(s == "process_batch" for s, _ in asked)
