from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from hubspot_sync.models import ApiCall, ItemState, SyncRun
from reconcile import budget, categories
from reconcile import overview as figures
from reconcile.models import CategorySnapshot, OrderProblem, Orphan, Sweep
from tests.factories import make_run, make_shop, set_state

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_every_staged_item_is_in_exactly_one_category():
    make_shop()
    set_state("shop:1001", ItemState.MISMATCH, hubspot_id="11")
    set_state("shop:1001:1", ItemState.PENDING, hubspot_id="12")
    set_state("shop:1002", ItemState.NOT_FOUND, hubspot_id="13")
    set_state("shop:1002:1", ItemState.UNREPORTED_SKIP)
    Orphan.objects.create(object_type="deals", hubspot_id="99", store_key="shop:9")
    order = set_state("shop:1002:2", ItemState.VERIFIED).line_item.order
    OrderProblem.objects.create(order=order, code=OrderProblem.Code.LINE_COUNT)
    OrderProblem.objects.create(order=order, code=OrderProblem.Code.AMOUNT_SUM)

    counts = categories.counts()

    item_slugs = [c.slug for c in categories.ITEM_CATEGORIES]
    per_category = {slug: categories.items_in(slug).count() for slug in item_slugs}
    assert {slug: counts[slug] for slug in item_slugs} == per_category
    assert sum(per_category.values()) == categories.SyncItem.objects.count()
    # make_shop's line 1001:2 and the deal set here
    assert counts["mismatch"] == 2
    assert counts["missing"] == 1
    assert counts["unreported"] == 1
    assert counts["waiting"] == 1  # pending with a HubSpot ID: changed in the store
    assert counts["orphan"] == 1
    assert counts["order-problem"] == 1  # one order, two problems


def test_a_run_half_way_shows_its_progress_and_time_left():
    with time_machine.travel(NOON, tick=False):
        run = make_run(
            SyncRun.State.RUNNING,
            started=NOON - timedelta(seconds=30),
            batches_total=40,
            batches_done=10,
            requested_by="ops",
        )
        Sweep.objects.create(state=Sweep.State.QUEUED, items_total=500)

        work = figures.running_work()

        assert [(w.kind, w.pk, w.done, w.total, w.percent) for w in work] == [
            ("Sync run", run.pk, 10, 40, 25),
            ("Sweep", Sweep.objects.get().pk, 0, 500, 0),
        ]
        # 30 s for 10 batches, 30 left
        assert work[0].time_left() == timedelta(seconds=90)
        assert work[1].time_left() is None


def test_the_trend_places_each_snapshot_by_time_and_scales_to_the_peak():
    for minutes, mismatches in ((0, 10), (30, 40), (120, 20)):
        with time_machine.travel(NOON + timedelta(minutes=minutes), tick=False):
            CategorySnapshot.objects.create(counts={"mismatch": mismatches})

    trend = figures.trend()

    assert trend.peak == 40
    mismatch = next(s for s in trend.series if s.slug == "mismatch")
    # x: 0, 30/120 and 120/120 of 640; y: 160 less 160 * count / 40
    assert mismatch.points == "0.0,120.0 160.0,0.0 640.0,80.0"
    assert mismatch.latest == 20
    failed = next(s for s in trend.series if s.slug == "failed")
    assert failed.points == "0.0,160.0 160.0,160.0 640.0,160.0"


def test_the_budget_prefers_hubspots_daily_headers(settings):
    settings.HUBSPOT_DAILY_LIMIT = 1000
    run = make_run()
    with time_machine.travel(NOON, tick=False):
        for _ in range(3):
            ApiCall.objects.create(run=run, method="POST", endpoint="/x", status=200)
        assert budget.today() == budget.Budget(1000, 3, 997, "counted")

        ApiCall.objects.create(
            run=run,
            method="POST",
            endpoint="/x",
            status=200,
            rate_limit={"daily": "250000", "daily_remaining": "249000"},
        )
        assert budget.today() == budget.Budget(250000, 1000, 249000, "hubspot")

    with time_machine.travel(NOON + timedelta(days=1), tick=False):
        assert budget.today() == budget.Budget(1000, 0, 1000, "counted")


def test_the_overview_shows_categories_budget_and_work(viewer_client):
    make_shop()
    set_state("shop:1001", ItemState.MISMATCH, hubspot_id="11")
    make_run(SyncRun.State.RUNNING, batches_total=4, batches_done=1)

    response = viewer_client.get(reverse("reconcile:overview"))

    cards = {c["slug"]: c["count"] for c in response.context["categories"]}
    assert cards == categories.counts()
    assert cards["mismatch"] == 2  # line 2 of make_shop and the deal set here
    assert "1 of 4 batches" in response.text
    assert 'http-equiv="refresh" content="5"' in response.text
    assert "HubSpot API budget today" in response.text
    assert "No reconciliation sweep has finished yet." in response.text


def test_a_failed_sweep_shows_on_the_overview_and_the_sweeps_page(viewer_client):
    make_shop()
    Sweep.objects.create(
        state=Sweep.State.DONE, finished=NOON - timedelta(hours=6), counts={}
    )
    Sweep.objects.create(
        state=Sweep.State.FAILED,
        finished=NOON,
        error="HubSpot could not be reached: connection refused",
    )

    overview = viewer_client.get(reverse("reconcile:overview"))
    sweeps = viewer_client.get(reverse("reconcile:sweep-list"))

    assert "<strong>The last sweep failed</strong>" in overview.text
    assert "connection refused" in overview.text
    assert [row.record.state for row in sweeps.context["table"].page.object_list] == [
        "failed",
        "done",
    ]
    assert "connection refused" in sweeps.text


def test_a_sweep_listing_records_says_so_before_it_checks_items():
    Sweep.objects.create(
        state=Sweep.State.RUNNING, started=NOON, items_total=100, calls=12
    )
    Sweep.objects.create(state=Sweep.State.QUEUED, scope={"orders": [1, 2]})

    stages = [work.what for work in figures.running_work()]

    assert stages == [
        "items checked; listing HubSpot's records first for orphans and duplicates "
        "(12 calls so far)",
        "items checked (re-check of orders just sent)",
    ]


def test_failed_webhook_events_show_on_the_overview(viewer_client):
    from hubspot_sync.models import WebhookEvent

    make_shop()
    quiet = viewer_client.get(reverse("reconcile:overview"))
    for n in range(2):
        WebhookEvent.objects.create(
            dedupe_key=f"k{n}", state=WebhookEvent.State.FAILED, detail="boom"
        )
    WebhookEvent.objects.create(dedupe_key="ok", state=WebhookEvent.State.PROCESSED)

    shown = viewer_client.get(reverse("reconcile:overview"))

    assert "webhook event" not in quiet.text
    assert "<strong>2 HubSpot webhook events failed</strong>" in shown.text
    assert "the changes they name in HubSpot are not re-checked yet" in shown.text
    assert f"{reverse('reconcile:webhook-list')}?state=failed" in shown.text


def test_a_targeted_recheck_does_not_seem_to_have_found_everything(viewer_client):
    everything = {"orphan": 1, "order-problem": 1, "mismatch": 2}
    Sweep.objects.create(state=Sweep.State.DONE, finished=NOON, counts=everything)
    Sweep.objects.create(
        state=Sweep.State.DONE, finished=NOON, counts=everything, scope={"orders": [1]}
    )

    rows = viewer_client.get(reverse("reconcile:sweep-list")).context["table"].rows
    found = [row.get_cell("found") for row in rows]

    assert found[0].startswith("In all, after it: ")
    assert not found[1].startswith("In all")


def test_a_long_sweep_error_is_clipped_with_the_whole_of_it_on_hover(viewer_client):
    error = "HubSpot could not be reached: " + "x" * 400
    Sweep.objects.create(state=Sweep.State.FAILED, finished=NOON, error=error)

    page = viewer_client.get(reverse("reconcile:sweep-list"))

    assert f'<span title="{error}">' in page.text
    assert f">{error}<" not in page.text
