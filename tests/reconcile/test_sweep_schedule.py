"""Starting sweeps: the schedule, the task entry points and the command."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from hubspot_sync import engine
from hubspot_sync.models import SyncRun
from reconcile import tasks
from reconcile.models import Sweep
from reconcile.sweep import TASK_TIMEOUT_SECONDS, create_sweep, start_scheduled
from tests.factories import make_staged_order, make_store

pytestmark = pytest.mark.django_db


def make_sweep(state: str, age_minutes: int, **fields) -> Sweep:
    sweep = Sweep.objects.create(state=state, **fields)
    created = timezone.now() - timedelta(minutes=age_minutes)
    Sweep.objects.filter(pk=sweep.pk).update(created=created)
    return sweep


def test_migrate_creates_the_reconcile_schedule():
    schedule = Schedule.objects.get(name="tally-reconcile")

    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "reconcile.tasks.scheduled_sweep",
        "I",
        10,
    )
    assert schedule.repeats == -1


def test_the_schedule_starts_a_sweep_when_none_ever_ran():
    started = start_scheduled()

    assert started is not None
    assert (started.state, started.trigger) == ("queued", "schedule")


def test_the_schedule_waits_for_tally_sweep_minutes(settings):
    settings.TALLY_SWEEP_MINUTES = 360
    make_sweep(Sweep.State.DONE, age_minutes=359)

    assert start_scheduled() is None

    Sweep.objects.update(created=timezone.now() - timedelta(minutes=361))
    assert start_scheduled() is not None


@pytest.mark.parametrize("state", [Sweep.State.QUEUED, Sweep.State.RUNNING])
def test_the_schedule_never_starts_a_second_sweep(state):
    make_sweep(state, age_minutes=30, started=timezone.now())

    assert start_scheduled() is None
    assert Sweep.objects.count() == 1


@pytest.mark.parametrize("state", [SyncRun.State.QUEUED, SyncRun.State.RUNNING])
def test_the_schedule_waits_for_a_sync_in_progress(state):
    run = SyncRun.objects.create(state=state)

    assert start_scheduled() is None
    SyncRun.objects.filter(pk=run.pk).update(state=SyncRun.State.DONE)
    assert start_scheduled().trigger == "schedule"


def test_the_schedule_fails_a_sweep_that_outlived_its_task():
    long_ago = timezone.now() - timedelta(seconds=TASK_TIMEOUT_SECONDS + 61)
    dead = make_sweep(Sweep.State.RUNNING, age_minutes=400, started=long_ago)

    started = start_scheduled()

    dead.refresh_from_db()
    assert dead.state == Sweep.State.FAILED
    assert dead.error == (
        "The sweep stopped before it ended (its worker died or timed out)."
    )
    assert started is not None and started.pk != dead.pk


@pytest.fixture
def queued_tasks(monkeypatch):
    """What is handed to django-q, whichever broker (ORM or Redis) is set."""
    handed: list[tuple[str, tuple, dict]] = []
    monkeypatch.setattr(
        tasks, "async_task", lambda func, *args, **kw: handed.append((func, args, kw))
    )
    return handed


def test_the_scheduled_task_queues_the_sweep_with_its_own_timeout(queued_tasks):
    sweep_id = tasks.scheduled_sweep()

    ((func, args, options),) = queued_tasks
    assert (func, args, options["timeout"]) == (
        "reconcile.tasks.run_sweep",
        (sweep_id,),
        TASK_TIMEOUT_SECONDS,
    )
    assert tasks.scheduled_sweep() is None


def test_the_task_runs_a_queued_sweep_once(hubspot, settings):
    settings.TALLY_SWEEP_ORPHANS = False
    sweep = create_sweep()

    assert tasks.run_sweep(sweep.pk) is True
    assert tasks.run_sweep(sweep.pk) is False
    assert Sweep.objects.get(pk=sweep.pk).state == Sweep.State.DONE


def test_the_command_runs_a_sweep_and_prints_the_counts(hubspot):
    make_staged_order(make_store(), "1001", lines=2)
    engine.run_inline(engine.create_run().pk)
    out = StringIO()

    call_command("reconcile_hubspot", "--wait", stdout=out)

    sweep = Sweep.objects.get()
    lines = out.getvalue().splitlines()
    assert lines[0] == "  checked 0 of 3 items, 1 calls"  # after the first list page
    assert f"Sweep {sweep.pk} done: 3 items checked, 5 HubSpot calls." in lines
    assert "  In sync                       3" in lines
    assert "  Field mismatch                0" in lines
    assert sweep.trigger == "command"


def test_the_command_queues_a_sweep_without_wait(queued_tasks):
    out = StringIO()

    call_command("reconcile_hubspot", stdout=out)

    sweep = Sweep.objects.get()
    assert sweep.state == Sweep.State.QUEUED
    assert [args for _, args, _ in queued_tasks] == [(sweep.pk,)]
    assert out.getvalue().startswith(
        f"Sweep {sweep.pk} queued; a qcluster worker runs it. Counts now:\n"
    )


def test_the_command_fails_loudly_when_the_sweep_fails(hubspot, settings):
    settings.HUBSPOT_ACCESS_TOKEN = "wrong"
    settings.HUBSPOT_MAX_ATTEMPTS = 1

    with pytest.raises(CommandError, match="^Sweep [0-9]+ failed: Authentication"):
        call_command("reconcile_hubspot", "--wait", stdout=StringIO())


@pytest.mark.parametrize("state", [Sweep.State.QUEUED, Sweep.State.RUNNING])
def test_the_command_refuses_a_second_sweep(state):
    running = make_sweep(state, age_minutes=1)

    with pytest.raises(CommandError, match=f"Sweep {running.pk} is already"):
        call_command("reconcile_hubspot", "--wait", stdout=StringIO())

    assert Sweep.objects.count() == 1
