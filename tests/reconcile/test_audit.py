"""The audit log: what each action writes, and the page that lists it."""

from datetime import UTC, datetime
from unittest import mock

import pytest
import time_machine
from django.http import QueryDict
from django.urls import reverse

from hubspot_sync.models import ItemState, SyncItem, SyncRun
from reconcile import actions, roles
from reconcile.models import AuditEntry
from tests.factories import audit_fields, item, make_shop

pytestmark = pytest.mark.django_db

RETRY = reverse("reconcile:retry-preview")
AUDIT = reverse("reconcile:audit-list")


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("olive", password="operator-pass-1")
    roles.assign(user, roles.OPERATOR)
    return user


def test_a_done_retry_keeps_who_what_the_preview_and_the_run(client, operator):
    make_shop()
    client.force_login(operator)
    url = f"{RETRY}?category=failed&store=shop"
    page = client.get(url)
    shown = page.context["preview"].as_dict()
    token = page.context["token"]

    with mock.patch("hubspot_sync.tasks.enqueue", autospec=True):
        client.post(url, {"token": token, "digest": shown["digest"]})

    run = SyncRun.objects.get()
    assert audit_fields(AuditEntry.objects.get()) == {
        "user": operator,
        "username": "olive",
        "action": "retry",
        "target": "Failed list where store=shop",
        "parameters": {"category": "failed", "store": "shop", "token": token},
        "preview": shown,
        "status": "done",
        "result": f"Run {run.pk} queued: 1 item to send (1 set back to pending).",
        "run_id": run.pk,
        "sweep_id": None,
    }
    assert shown["to_send"] == {"deals": 0, "line_items": 1}
    assert shown["calls"]["total"] == 11


def test_a_failed_action_is_logged_and_rolled_back(operator):
    make_shop()
    selection = actions.retry_selection(QueryDict("category=failed"))
    token = actions.new_token()

    with mock.patch(
        "hubspot_sync.engine.create_run",
        autospec=True,
        side_effect=RuntimeError("disk full"),
    ):
        result = actions.execute(selection, operator, token)

    assert result.status == "failed"
    assert item("shop:1001:3").state == ItemState.FAILED  # rolled back
    assert not SyncRun.objects.exists()
    entry = AuditEntry.objects.get()
    assert (entry.status, entry.result, entry.run_id) == (
        "failed",
        "Nothing was done: RuntimeError: disk full",
        None,
    )
    assert entry.parameters == {"category": "failed", "token": token}
    assert entry.preview["to_send"] == {"deals": 0, "line_items": 1}


def test_an_empty_selection_is_logged_as_refused(operator):
    make_shop()
    selection = actions.retry_selection(QueryDict("category=in-sync"))
    before = list(SyncItem.objects.order_by("pk").values())

    result = actions.execute(selection, operator, "e" * 32)

    entry = AuditEntry.objects.get()
    assert result.status == "refused"
    assert (entry.status, entry.result, entry.target) == (
        "refused",
        "Nothing to do: no item in this selection can be sent.",
        "In sync list",
    )
    assert list(SyncItem.objects.order_by("pk").values()) == before
    assert not SyncRun.objects.exists()


def make_entries(user, count: int, action: str = "retry", **fields) -> None:
    for n in range(count):
        AuditEntry.objects.create(
            user=user,
            username=user.username,
            action=action,
            target=f"item {n + 1}",
            **fields,
        )


def test_the_audit_log_lists_newest_first_fifty_a_page(viewer_client, viewer):
    with time_machine.travel(datetime(2011, 1, 3, 9, tzinfo=UTC), tick=False):
        make_entries(viewer, 2, status="refused", result="Refused: the Viewer role")
    make_entries(viewer, 50, run_id=7)

    first = viewer_client.get(AUDIT)
    second = viewer_client.get(AUDIT, {"page": 2})

    assert first.status_code == 200
    assert first.context["table"].paginator.count == 52
    targets = [row.record.target for row in first.context["table"].page.object_list]
    assert targets == [f"item {n}" for n in range(50, 0, -1)]
    assert [row.record.target for row in second.context["table"].page.object_list] == [
        "item 2",
        "item 1",
    ]
    assert (
        f'<a href="{reverse("reconcile:run-detail", args=[7])}">Run 7</a>' in first.text
    )
    assert "52 entries" in first.text


def test_the_audit_log_filters_by_user_and_action(viewer_client, viewer, operator):
    make_entries(viewer, 1, action="retry")
    make_entries(operator, 2, action="resync")
    make_entries(operator, 3, action="retry")

    by_user = viewer_client.get(AUDIT, {"username": "olive"})
    by_both = viewer_client.get(AUDIT, {"username": "olive", "action": "retry"})

    assert by_user.context["table"].paginator.count == 5
    assert by_both.context["table"].paginator.count == 3
    assert {
        (row.record.username, row.record.action)
        for row in by_both.context["table"].page.object_list
    } == {("olive", "retry")}
    assert '<option value="olive" selected>olive</option>' in by_both.text


def test_the_audit_log_shows_the_preview_figures(viewer_client, viewer):
    AuditEntry.objects.create(
        user=viewer,
        username="viewer",
        action="resync",
        target="store shop",
        preview={
            "to_send": {"deals": 1200, "line_items": 30000},
            "calls": {"total": 325},
        },
        status="done",
    )

    page = viewer_client.get(AUDIT)

    assert "31,200 items, 325 calls" in page.text
    assert "Resync" in page.text


def test_the_audit_log_needs_a_login(client):
    response = client.get(AUDIT)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={AUDIT}"


def test_the_audit_log_names_a_sweep_and_counts_in_good_english(viewer_client):
    from reconcile.models import AuditEntry

    AuditEntry.objects.create(
        username="olga",
        action="sweep",
        target="every item in HubSpot",
        preview={"to_send": {"deals": 1, "line_items": 0}, "calls": {"total": 1}},
        result="Sweep 7 queued",
        sweep_id=7,
    )

    response = viewer_client.get(reverse("reconcile:audit-list"))

    assert "<td >Sweep 7</td>" in response.text
    assert "1 item, 1 call" in response.text


def test_import_cancels_have_a_name_and_a_filter(viewer_client, viewer, operator):
    make_entries(operator, 2, action="cancel_import", status="done")
    make_entries(viewer, 1, action="cancel_import", status="refused")
    make_entries(operator, 3, action="retry")

    everything = viewer_client.get(AUDIT)
    cancels = viewer_client.get(AUDIT, {"action": "cancel_import"})

    assert '<option value="cancel_import">Import cancellation</option>' in (
        everything.text
    )
    assert "<td >Import cancellation</td>" in everything.text
    assert "cancel_import</td>" not in everything.text
    assert cancels.context["table"].paginator.count == 3
    assert {row.record.action for row in cancels.context["table"].page.object_list} == {
        "cancel_import"
    }
    assert '<option value="cancel_import" selected>' in cancels.text
