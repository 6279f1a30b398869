"""Failed and stranded webhook events are taken again, within bounds."""

from datetime import timedelta

import pytest
from django.utils import timezone

from hubspot_sync import tasks, webhooks
from hubspot_sync.models import WebhookEvent
from reconcile.models import Sweep
from tests.factories import item, make_staged_order, make_store

pytestmark = pytest.mark.django_db

FAILED = WebhookEvent.State.FAILED
RECEIVED = WebhookEvent.State.RECEIVED
PROCESSED = WebhookEvent.State.PROCESSED


@pytest.fixture
def queued(monkeypatch):
    handed: list[list[int]] = []
    monkeypatch.setattr(webhooks, "enqueue", handed.append)
    return handed


@pytest.fixture
def synced():
    order = make_staged_order(make_store(), "1001", lines=1)
    deal = item("shop:1001")
    deal.hubspot_id = "501"
    deal.state = "verified"
    deal.save()
    return order


def edit(n: int, object_id: str = "501") -> dict:
    return {
        "eventId": n,
        "portalId": 1234567,
        "appId": 1837263,
        "occurredAt": 1788597072520 + n,
        "attemptNumber": 0,
        "subscriptionType": "deal.propertyChange",
        "objectId": object_id,
        "propertyName": "amount",
        "propertyValue": str(n),
        "changeSource": "CRM_UI",
        "sourceId": "userId:1",
    }


def fail_once(monkeypatch, times: int = 1):
    """Make the next `times` runs of the task fail, then let it work."""
    real = webhooks._act
    left = [times]

    def flaky(event, held):
        if left[0]:
            raise RuntimeError("database went away")
        return real(event, held)

    def run(ids):
        if webhooks.process_events(ids)["failed"]:
            left[0] -= 1

    monkeypatch.setattr(webhooks, "_act", flaky)
    return run


def test_a_failed_event_is_taken_again_when_due_and_then_acted_on(
    synced, queued, monkeypatch
):
    ids = webhooks.store([edit(1)])
    run = fail_once(monkeypatch)
    run(ids)
    failed = WebhookEvent.objects.get()
    assert (failed.state, failed.tries) == (FAILED, 1)

    # Not yet due: nothing queued, nothing changed.
    assert webhooks.retry(now=failed.next_try - timedelta(seconds=1)) == 0
    assert queued == []
    assert WebhookEvent.objects.get().state == FAILED

    monkeypatch.setattr(timezone, "now", lambda: failed.next_try)
    assert tasks.retry_webhook_events() == 1
    assert queued == [ids]
    assert WebhookEvent.objects.get().state == RECEIVED

    run(queued[0])
    done = WebhookEvent.objects.get()
    assert (done.state, done.tries) == (PROCESSED, 1)
    assert done.detail.startswith("Re-check")
    assert Sweep.objects.get().scoped_orders == [synced.pk]


def test_tries_wait_twice_as_long_each_time_and_stop_at_the_limit(
    synced, queued, monkeypatch, settings
):
    settings.TALLY_WEBHOOK_MAX_TRIES = 3
    ids = webhooks.store([edit(1)])
    run = fail_once(monkeypatch, times=10)
    waits = []
    run(ids)
    for _ in range(4):
        event = WebhookEvent.objects.get()
        if event.next_try is None:
            break
        waits.append(event.next_try - event.processed_at)
        webhooks.retry(now=event.next_try)
        run(queued[-1])

    event = WebhookEvent.objects.get()
    assert waits == [timedelta(minutes=1), timedelta(minutes=2)]
    assert (event.state, event.tries, event.next_try) == (FAILED, 3, None)
    assert event.detail == (
        "RuntimeError: database went away (try 3 of 3, the last; "
        "the next full sweep still checks these records)"
    )
    handed = len(queued)
    assert webhooks.retry(now=timezone.now() + timedelta(days=365)) == 0
    assert len(queued) == handed


def test_an_event_never_taken_is_queued_again_once_every_five_minutes(synced, queued):
    ids = webhooks.store([edit(1), edit(2)])
    received = WebhookEvent.objects.last().received

    assert webhooks.retry(now=received + timedelta(minutes=4)) == 0
    assert webhooks.retry(now=received + timedelta(minutes=5)) == 2
    assert queued == [ids]
    # Still waiting in a long queue: not queued again at once ...
    assert webhooks.retry(now=received + timedelta(minutes=9)) == 0
    # ... but again once another five minutes have passed.
    assert webhooks.retry(now=received + timedelta(minutes=10)) == 2

    webhooks.process_events(queued[0])
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {PROCESSED}
    assert webhooks.retry(now=received + timedelta(hours=1)) == 0


def test_events_are_queued_again_in_batches_under_100(synced, queued):
    webhooks.store([edit(n) for n in range(1, 100)])
    webhooks.store([edit(n) for n in range(100, 151)])
    later = timezone.now() + timedelta(minutes=5)

    assert webhooks.retry(now=later) == 150
    assert [len(ids) for ids in queued] == [99, 51]
    assert sorted(sum(queued, [])) == list(
        WebhookEvent.objects.order_by("pk").values_list("pk", flat=True)
    )


def test_the_retry_schedule_is_installed():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="tally-webhook-retry")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "hubspot_sync.tasks.retry_webhook_events",
        Schedule.MINUTES,
        1,
    )


# Storing: a few statements per batch, each event once.


def test_a_batch_of_99_is_stored_in_a_few_statements(django_assert_max_num_queries):
    # One read, one insert (SQLite splits it in two: its limit on variables),
    # and a savepoint around it; event by event it was about 200.
    with django_assert_max_num_queries(5):
        ids = webhooks.store([edit(n) for n in range(99)])

    assert len(ids) == 99
    assert list(WebhookEvent.objects.order_by("pk").values_list("pk", flat=True)) == ids


def test_a_duplicate_inside_one_batch_is_stored_once():
    ids = webhooks.store([edit(1), edit(1) | {"attemptNumber": 2}, edit(2)])

    assert len(ids) == 2
    assert list(WebhookEvent.objects.values_list("event_id", flat=True)) == [1, 2]


def test_events_stored_beside_us_in_between_are_not_stored_twice(monkeypatch):
    first = webhooks.store([edit(1)])
    # As if another request stored event 1 after this one looked.
    monkeypatch.setattr(webhooks, "_held", lambda keys: set())

    new = webhooks.store([edit(1), edit(2), edit(3)])

    assert len(new) == 2
    assert WebhookEvent.objects.count() == 3
    assert first[0] not in new
    assert sorted(WebhookEvent.objects.values_list("event_id", flat=True)) == [1, 2, 3]
