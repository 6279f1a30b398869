"""The retry, resync and sweep pages: preview, confirmation, and what they change."""

from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django_q.conf import Conf

from hubspot_sync import engine
from hubspot_sync.models import (
    Association,
    ItemOutcome,
    ItemState,
    SyncItem,
    SyncRun,
)
from reconcile import roles
from reconcile.models import AuditEntry, LineItem, Order, Sweep
from tests.factories import (
    item,
    make_call,
    make_outcome,
    make_run,
    make_shop,
    make_staged_order,
    make_store,
    set_state,
)

pytestmark = pytest.mark.django_db

RETRY = reverse("reconcile:retry-preview")
RESYNC = reverse("reconcile:resync-preview")
SWEEP = reverse("reconcile:sweep-preview")


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("olive", password="operator-pass-1")
    roles.assign(user, roles.OPERATOR)
    return user


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def enqueue():
    """hubspot_sync.tasks.enqueue, recorded instead of queued."""
    with mock.patch("hubspot_sync.tasks.enqueue", autospec=True) as patched:
        yield patched


def snapshot() -> dict[str, tuple]:
    return {
        key: (state, association, state_changed)
        for key, state, association, state_changed in SyncItem.objects.values_list(
            "key", "state", "association", "state_changed"
        )
    }


def confirm(client: Client, url: str, **extra):
    """Open the preview, then send its confirmation form as a browser would."""
    page = client.get(url)
    assert page.status_code == 200
    form = {
        "token": page.context["token"],
        "digest": page.context["preview"].digest,
        **extra,
    }
    return client.post(url, form), form


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_it_shows_the_figures_and_a_confirm_button(operator_client):
    make_shop()
    url = f"{RETRY}?category=failed"

    page = operator_client.get(url)

    assert page.status_code == 200
    assert [t.name for t in page.templates][0] == "reconcile/actions/preview.html"
    assert page.context["states"] == [("Failed", 0, 1)]
    assert page.context["skipped"] == []
    assert '<h1>Retry <span class="muted small">Failed list</span></h1>' in page.text
    assert "<strong>about 11 calls</strong>" in page.text
    assert (
        "it also sends 2 deals and 3 line items already waiting, and the estimate "
        "counts them." in page.text
    )
    assert '<form method="post" action="?category=failed">' in page.text
    assert "Retry 1 item</button>" in page.text


def test_it_names_why_items_are_skipped(operator_client):
    make_shop()

    page = operator_client.get(f"{RETRY}?q=1001")

    assert page.context["skipped"] == [
        "2 already verified (a resync of their orders sends them again)"
    ]
    assert (
        "<dt>Skipped</dt><dd>2 already verified (a resync of their orders sends "
        "them again)</dd>"
    ) in page.text


def test_a_resync_preview_says_in_one_sentence_what_it_leaves_out(operator_client):
    make_shop()  # order 1003, a stock adjustment: its deal and line are excluded
    query = "placed_after=2010-12-01&placed_before=2010-12-01&store=shop"

    page = operator_client.get(f"{RESYNC}?{query}")

    assert page.status_code == 200
    assert page.context["skipped"] == ["2 not synced by design (never sent)"]
    assert "<dt>Skipped</dt><dd>2 not synced by design (never sent)</dd>" in page.text
    assert "Not synced by design 2" not in page.text


def test_it_retries_exactly_the_chosen_items_in_one_run(operator_client, enqueue):
    make_shop()
    failed, verified = item("shop:1001:3"), item("shop:1001:1")
    make_outcome(failed, "failed", make_call(make_run()))
    before = snapshot()
    history = list(ItemOutcome.objects.values_list("pk", "item_id", "outcome"))

    response, _ = confirm(
        operator_client, f"{RETRY}?item={failed.pk}&item={verified.pk}"
    )

    run = SyncRun.objects.get(trigger="retry")
    assert response.status_code == 302
    assert response["Location"] == reverse("reconcile:run-detail", args=[run.pk])
    assert messages_of(response) == [
        f"Run {run.pk} queued: 1 item to send (1 set back to pending)."
    ]
    assert SyncRun.objects.count() == 2  # make_run's, and this one
    assert (run.state, run.requested_by) == (SyncRun.State.QUEUED, "olive")
    enqueue.assert_called_once_with("start_run", run.pk)
    after = snapshot()
    changed = {key for key in after if after[key] != before[key]}
    assert changed == {"shop:1001:3"}
    assert after["shop:1001:3"][0] == ItemState.PENDING
    assert list(ItemOutcome.objects.values_list("pk", "item_id", "outcome")) == history


def test_it_retries_a_whole_category_and_leaves_other_items_alone(
    operator_client, enqueue
):
    make_shop()
    before = snapshot()

    confirm(operator_client, f"{RETRY}?category=mismatch")

    after = snapshot()
    assert {key for key in after if after[key] != before[key]} == {"shop:1001:2"}
    assert item("shop:1001:2").state == ItemState.PENDING
    assert SyncRun.objects.filter(trigger="retry").count() == 1


def test_it_retries_what_a_run_touched(operator_client, enqueue):
    make_shop()
    run = make_run()
    call = make_call(run)
    for key in ("shop:1001:2", "shop:1001:3", "shop:1003"):
        make_outcome(item(key), "failed", call)
    before = snapshot()

    confirm(operator_client, f"{RETRY}?run={run.pk}")

    after = snapshot()
    assert {key for key in after if after[key] != before[key]} == {
        "shop:1001:2",
        "shop:1001:3",
    }
    assert item("shop:1003").state == ItemState.EXCLUDED


def test_it_offers_no_confirmation_when_there_is_nothing_to_do(
    operator_client, enqueue
):
    make_shop()
    url = f"{RETRY}?category=in-sync"

    page = operator_client.get(url)
    response = operator_client.post(
        url, {"token": "t" * 32, "digest": page.context["preview"].digest}
    )

    assert "Nothing to do: no item in this selection can be sent." in page.text
    assert 'name="token"' not in page.text
    assert response.status_code == 200
    assert "Nothing to do" in response.text
    assert not SyncRun.objects.exists()
    enqueue.assert_not_called()


def test_it_refuses_over_budget_and_changes_nothing(operator_client, enqueue):
    make_shop()
    make_call(make_run(), rate_limit={"daily": 250000, "daily_remaining": 10})
    before = snapshot()
    url = f"{RETRY}?category=failed"

    page = operator_client.get(url)
    response = operator_client.post(
        url, {"token": "b" * 32, "digest": page.context["preview"].digest}
    )

    refusal = (
        "Refused: this takes about 11 HubSpot calls and only 10 of today&#x27;s "
        "250,000 are left."
    )
    assert refusal in page.text
    assert 'name="token"' not in page.text
    assert refusal in response.text
    assert snapshot() == before
    assert SyncRun.objects.count() == 1
    enqueue.assert_not_called()
    entry = AuditEntry.objects.get()
    assert (entry.status, entry.action, entry.run_id) == ("refused", "retry", None)
    assert entry.result.startswith("Refused: this takes about 11 HubSpot calls")


def test_it_starts_one_run_however_often_the_form_is_sent(operator_client, enqueue):
    make_shop()
    url = f"{RETRY}?category=failed"

    first, form = confirm(operator_client, url)
    second = operator_client.post(url, form)

    run = SyncRun.objects.get()
    assert first["Location"] == second["Location"]
    assert second["Location"] == reverse("reconcile:run-detail", args=[run.pk])
    assert messages_of(second) == [
        f"Run {run.pk} queued: 1 item to send (1 set back to pending).",
        "This confirmation was already sent; nothing was done twice.",
    ]
    enqueue.assert_called_once_with("start_run", run.pk)
    assert AuditEntry.objects.filter(status="done").count() == 1


def test_it_asks_again_when_the_selection_changed_since_the_preview(
    operator_client, enqueue
):
    make_shop()
    url = f"{RETRY}?category=failed"
    page = operator_client.get(url)
    set_state("shop:1001:2", ItemState.FAILED)

    response = operator_client.post(
        url, {"token": page.context["token"], "digest": page.context["preview"].digest}
    )

    assert response.status_code == 200
    assert (
        "The selection changed since the preview; nothing was done. Check the new "
        "figures and confirm again." in response.text
    )
    assert response.context["states"] == [("Failed", 0, 2)]
    assert response.context["token"] != page.context["token"]
    assert item("shop:1001:2").state == ItemState.FAILED
    assert not SyncRun.objects.exists()


def test_it_refuses_a_post_without_the_csrf_token(operator):
    make_shop()
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    before = snapshot()

    response = client.post(
        f"{RETRY}?category=failed", {"token": "c" * 32, "digest": ""}
    )

    assert response.status_code == 403
    assert snapshot() == before
    assert not SyncRun.objects.exists()


def test_it_accepts_the_form_with_its_csrf_token(operator, enqueue):
    make_shop()
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    url = f"{RETRY}?category=failed"
    page = client.get(url)

    response = client.post(
        url,
        {
            "csrfmiddlewaretoken": page.context["csrf_token"],
            "token": page.context["token"],
            "digest": page.context["preview"].digest,
        },
    )

    assert response.status_code == 302
    assert SyncRun.objects.filter(trigger="retry").count() == 1


def test_it_refuses_a_confirmation_without_a_token(operator_client, enqueue):
    make_shop()

    response = operator_client.post(f"{RETRY}?category=failed", {"digest": ""})

    assert response.status_code == 200
    assert "This confirmation has no valid token; look again." in response.text
    assert not SyncRun.objects.exists()


def test_it_answers_400_to_a_selection_it_cannot_read(operator_client):
    response = operator_client.get(f"{RETRY}?item=abc")

    assert response.status_code == 400
    assert "item must be a number, not &#x27;abc&#x27;." in response.text


@pytest.mark.parametrize(
    "address, message",
    [
        (
            f"{RETRY}?item=99999999999999999999999",
            "No item with id 99999999999999999999999.",
        ),
        (f"{RETRY}?item={2**63}", f"No item with id {2**63}."),
        (f"{RETRY}?run=99999999999999999999999", "No run 99999999999999999999999."),
        (
            f"{RESYNC}?order=99999999999999999999999",
            "No order 99999999999999999999999.",
        ),
    ],
)
def test_it_answers_400_to_an_id_past_the_databases_integers(
    operator_client, address, message
):
    make_shop()

    response = operator_client.get(address)

    assert response.status_code == 400
    assert f'<div class="errors" role="alert"><p>{message}</p></div>' in response.text


def test_it_refuses_more_than_1000_selected_items_in_its_own_words(operator_client):
    make_shop()
    query = "&".join(f"item={pk}" for pk in range(1, 1003))

    response = operator_client.get(f"{RETRY}?{query}")

    assert response.status_code == 400
    assert [t.name for t in response.templates][0] == "reconcile/actions/invalid.html"
    assert "At most 1,000 items at once; retry the list they are in." in response.text


def test_it_previews_a_list_placed_until_the_last_day_a_date_can_name(
    operator_client,
):
    make_shop()

    page = operator_client.get(f"{RETRY}?placed_before=9999-12-31")

    assert page.status_code == 200
    assert page.context["preview"].selected == {"deals": 4, "line_items": 7}


def test_it_resyncs_an_order_verified_items_too(operator_client, enqueue):
    make_shop()
    order = Order.objects.get(number="1001")
    LineItem.objects.filter(order=order, position=1).update(quantity=7)
    before = snapshot()

    response, _ = confirm(operator_client, f"{RESYNC}?order={order.pk}")

    run = SyncRun.objects.get()
    assert response["Location"] == reverse("reconcile:run-detail", args=[run.pk])
    assert messages_of(response) == [
        f"Run {run.pk} queued: 4 items to send again (0 new, 2 changed in the "
        "store, 2 set back to pending)."
    ]
    assert (run.trigger, run.requested_by) == ("resync", "olive")
    after = snapshot()
    assert {key for key in after if after[key] != before[key]} == {
        "shop:1001",
        "shop:1001:1",
        "shop:1001:2",
        "shop:1001:3",
    }
    assert {
        key: after[key][:2]
        for key in ("shop:1001", "shop:1001:1", "shop:1001:2", "shop:1001:3")
    } == {
        "shop:1001": (ItemState.PENDING, Association.NOT_APPLICABLE),
        "shop:1001:1": (ItemState.PENDING, Association.PENDING),
        "shop:1001:2": (ItemState.PENDING, Association.PENDING),
        "shop:1001:3": (ItemState.PENDING, Association.PENDING),
    }
    assert item("shop:1001:1").properties["quantity"] == "7"


def test_it_resyncs_a_store_and_keeps_excluded_items_excluded(operator_client, enqueue):
    make_shop()

    confirm(operator_client, f"{RESYNC}?store=shop")

    states = dict(SyncItem.objects.values_list("key", "state"))
    assert states == {
        "shop:1001": "pending",
        "shop:1001:1": "pending",
        "shop:1001:2": "pending",
        "shop:1001:3": "pending",
        "shop:1002": "pending",
        "shop:1002:1": "pending",
        "shop:1002:2": "pending",
        "shop:1003": "excluded",
        "shop:1003:1": "excluded",
        "shop:C1004": "pending",
        "shop:C1004:1": "pending",
    }
    assert SyncRun.objects.filter(trigger="resync").count() == 1


def test_it_starts_a_sweep(operator_client):
    make_shop()

    with mock.patch("reconcile.tasks.enqueue_sweep", autospec=True) as queued:
        response, _ = confirm(operator_client, SWEEP)

    sweep = Sweep.objects.get()
    assert response["Location"] == reverse("reconcile:overview")
    assert messages_of(response) == [f"Sweep {sweep.pk} queued: 3 items to check."]
    assert (sweep.state, sweep.trigger, sweep.requested_by) == (
        Sweep.State.QUEUED,
        "dashboard",
        "olive",
    )
    queued.assert_called_once_with(sweep.pk)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.status, entry.sweep_id, entry.run_id) == (
        "sweep",
        "done",
        sweep.pk,
        None,
    )


def test_it_marks_the_run_failed_when_it_cannot_be_queued(operator_client, enqueue):
    make_shop()
    enqueue.side_effect = ConnectionError("broker down")

    response, _ = confirm(operator_client, f"{RETRY}?category=failed")

    run = SyncRun.objects.get()
    message = "Could not queue the work: ConnectionError. Try again."
    assert response.status_code == 200
    assert message in response.text
    assert (run.state, run.error) == (SyncRun.State.FAILED, message)
    entry = AuditEntry.objects.get()
    assert (entry.status, entry.result, entry.run_id) == ("failed", message, run.pk)


def test_a_failed_item_retried_from_the_dashboard_ends_verified(
    hubspot, operator_client, monkeypatch
):
    """End to end: the views queue the run; django-q (sync mode) runs it."""
    store = make_store()
    make_staged_order(store, "1001", lines=2)
    engine.run_inline(engine.create_run().pk)
    failed = set_state("shop:1001:2", ItemState.FAILED, reason_code="INVALID_OPTION")
    make_outcome(failed, "failed")
    history = list(ItemOutcome.objects.filter(item=failed).values_list("pk", "outcome"))
    monkeypatch.setattr(Conf, "SYNC", True)

    response, _ = confirm(operator_client, f"{RETRY}?item={failed.pk}")

    run = SyncRun.objects.get(trigger="retry")
    assert response["Location"] == reverse("reconcile:run-detail", args=[run.pk])
    assert run.state == SyncRun.State.DONE, run.error
    failed.refresh_from_db()
    assert failed.state == ItemState.VERIFIED
    outcomes = list(
        ItemOutcome.objects.filter(item=failed).values_list("pk", "outcome")
    )
    assert outcomes[: len(history)] == history
    assert [outcome for _, outcome in outcomes[len(history) :]] == ["verified"]
    assert hubspot.store.count("line_items") == 2


def test_a_refused_line_resynced_after_a_fix_ends_verified(
    hubspot, operator_client, monkeypatch
):
    store = make_store()
    order = make_staged_order(store, "1001", lines=2)
    line = LineItem.objects.get(order=order, position=2)
    line.unit_price = Decimal("-1.50")
    line.save()
    stage(order)
    engine.run_inline(engine.create_run().pk)
    assert item("shop:1001:2").state == ItemState.FAILED
    LineItem.objects.filter(pk=line.pk).update(unit_price=Decimal("1.50"))
    monkeypatch.setattr(Conf, "SYNC", True)

    confirm(operator_client, f"{RESYNC}?order={order.pk}")

    run = SyncRun.objects.get(trigger="resync")
    assert run.state == SyncRun.State.DONE, run.error
    assert set(SyncItem.objects.values_list("state", flat=True)) == {ItemState.VERIFIED}
    assert (
        hubspot.store.get("line_items", item("shop:1001:2").hubspot_id).properties[
            "price"
        ]
        == "1.5"
    )


def stage(order: Order) -> None:
    from reconcile.mapping import stage as stage_orders

    stage_orders(Order.objects.filter(pk=order.pk))


def test_an_operator_chooses_a_store_and_dates_to_resync(operator_client):
    make_shop()
    url = reverse("reconcile:resync-preview")

    chooser = operator_client.get(url)
    preview = operator_client.get(
        url, {"store": "shop", "placed_after": "2010-12-01", "placed_before": ""}
    )

    assert chooser.status_code == 200
    assert '<option value="shop">Test shop</option>' in chooser.text
    assert preview.status_code == 200
    assert (
        preview.context["preview"].target == "store shop, orders placed from 2010-12-01"
    )


def test_the_run_page_offers_operators_a_retry_of_its_items(operator_client, client):
    run = make_run()
    url = reverse("reconcile:run-detail", args=[run.pk])

    response = operator_client.get(url)

    assert f'<input type="hidden" name="run" value="{run.pk}">' in response.text
