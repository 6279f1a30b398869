"""The jobs page: import jobs listed, and canceled by operators only."""

from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from hubspot_sync.models import ImportJob, ItemState, SyncBatch, SyncItem, SyncRun
from reconcile import roles
from reconcile.models import AuditEntry
from tests.factories import audit_fields

pytestmark = pytest.mark.django_db

JOBS = reverse("reconcile:job-list")


@pytest.fixture
def operator_client(client, django_user_model):
    user = django_user_model.objects.create_user("olive", password="operator-pass-1")
    roles.assign(user, roles.OPERATOR)
    client.force_login(user)
    return client


@pytest.fixture
def enqueue():
    with mock.patch("hubspot_sync.tasks.enqueue", autospec=True) as patched:
        yield patched


def make_job(**fields) -> ImportJob:
    run = SyncRun.objects.create(state=SyncRun.State.RUNNING)
    number = 1001 + SyncItem.objects.count()
    item = SyncItem.objects.create(
        object_type="deals",
        key=f"shop:{number}",
        properties={"dealname": f"Order {number}"},
    )
    batch = SyncBatch.objects.create(run=run, kind="import", item_ids=[item.pk])
    item.lease_batch = batch
    item.lease_until = timezone.now() + timedelta(hours=1)
    item.save()
    values = {
        "run": run,
        "batch": batch,
        "object_type": "deals",
        "item_ids": [item.pk],
        "state": "QUEUED",
        **fields,
    }
    return ImportJob.objects.create(**values)


def test_it_lists_every_job_with_its_figures(viewer_client):
    make_job(
        state="DONE",
        hubspot_id="40000000123",
        polls=7,
        rows=3501,
        objects_created=3500,
        error_rows=1,
        finished=timezone.now(),
    )
    make_job(state="PROCESSING", next_poll=timezone.now() - timedelta(minutes=5))

    page = viewer_client.get(JOBS)

    html = page.content.decode()
    assert page.status_code == 200
    assert "40000000123" in html and "3501" in html and "3500" in html
    assert "Processing" in html and "(stuck)" in html
    assert (
        reverse("reconcile:run-detail", args=[ImportJob.objects.first().run_id]) in html
    )
    assert "Cancel…" not in html  # a viewer may not cancel
    assert (
        'href="/jobs/"'
        in viewer_client.get(reverse("reconcile:overview")).content.decode()
    )


def test_a_viewer_may_not_cancel(viewer_client):
    job = make_job(state="PROCESSING")

    response = viewer_client.post(reverse("reconcile:job-cancel", args=[job.pk]))

    assert response.status_code == 403
    job.refresh_from_db()
    assert job.state == "PROCESSING"


def test_a_viewers_cancel_is_audited_as_refused(viewer_client, viewer, enqueue):
    job = make_job(state="PROCESSING", hubspot_id="40000000123")
    url = reverse("reconcile:job-cancel", args=[job.pk])

    looked = viewer_client.get(url)
    assert looked.status_code == 403
    assert not AuditEntry.objects.exists()  # looking is not asking

    response = viewer_client.post(url)

    assert response.status_code == 403
    assert audit_fields(AuditEntry.objects.get()) == {
        "user": viewer,
        "username": "viewer",
        "action": "cancel_import",
        "target": f"Import job {job.pk} (HubSpot import 40000000123)",
        "parameters": {"job": job.pk, "hubspot_id": "40000000123"},
        "preview": {},
        "status": "refused",
        "result": "Refused: the Viewer role may not cancel imports.",
        "run_id": job.run_id,
        "sweep_id": None,
    }
    enqueue.assert_not_called()


def test_an_operator_confirms_then_cancels(operator_client, enqueue):
    job = make_job()
    url = reverse("reconcile:job-cancel", args=[job.pk])

    confirm = operator_client.get(url)
    assert confirm.status_code == 200
    assert "Cancel import job" in confirm.content.decode()
    job.refresh_from_db()
    assert job.state == "QUEUED"  # the GET changed nothing

    response = operator_client.post(url)

    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == "CANCELED" and job.canceled_by == "olive"
    item = SyncItem.objects.get(pk=job.item_ids[0])
    assert item.state == ItemState.UNKNOWN and item.lease_batch is None
    entry = AuditEntry.objects.get()
    assert entry.action == "cancel_import" and entry.status == "done"
    assert entry.username == "olive" and entry.run_id == job.run_id


def test_cancelling_an_ended_job_is_refused_and_audited(operator_client, enqueue):
    job = make_job(state="DONE", finished=timezone.now())

    operator_client.post(reverse("reconcile:job-cancel", args=[job.pk]))

    job.refresh_from_db()
    assert job.state == "DONE"
    assert AuditEntry.objects.get().status == "refused"


def test_cancel_needs_the_csrf_token(client, django_user_model):
    user = django_user_model.objects.create_user("olive", password="operator-pass-1")
    roles.assign(user, roles.OPERATOR)
    checked = client.__class__(enforce_csrf_checks=True)
    checked.force_login(user)
    job = make_job()

    response = checked.post(reverse("reconcile:job-cancel", args=[job.pk]))

    assert response.status_code == 403
    job.refresh_from_db()
    assert job.state == "QUEUED"


def test_the_page_needs_a_login(client):
    assert client.get(JOBS).status_code == 302


def test_each_job_links_to_exactly_its_items(viewer_client):
    mine = make_job(state="DONE")
    make_job(state="DONE")

    page = viewer_client.get(reverse("reconcile:job-list"))
    items = viewer_client.get(reverse("reconcile:item-list"), {"job": mine.pk})

    assert f'href="/items/?job={mine.pk}">its items</a>' in page.text
    keys = [row.record.key for row in items.context["table"].page.object_list]
    assert keys == [SyncItem.objects.get(pk=mine.item_ids[0]).key]


def test_asking_to_cancel_an_ended_job_says_so_without_a_button(operator_client):
    job = make_job(state="DONE", finished=timezone.now())

    response = operator_client.get(
        reverse("reconcile:job-cancel", args=[job.pk]), follow=True
    )

    assert "has ended already (done); there is nothing to cancel." in response.text
    assert "Cancel the import</button>" not in response.text
    assert AuditEntry.objects.count() == 0


def test_a_done_job_still_being_verified_says_so(viewer_client):
    make_job(state="DONE", finished=None)
    make_job(state="DONE", finished=timezone.now())

    response = viewer_client.get(reverse("reconcile:job-list"))

    assert response.text.count("Tally is reading its items back") == 1
