import json

import pytest
from django.urls import reverse

from hubspot_sync.models import SyncBatch, SyncRun
from tests.factories import make_batch, make_call, make_run

pytestmark = pytest.mark.django_db


def test_it_lists_runs_newest_first_25_per_page(viewer_client):
    runs = [make_run() for _ in range(27)]

    first = viewer_client.get(reverse("reconcile:run-list"))
    second = viewer_client.get(reverse("reconcile:run-list"), {"page": 2})

    newest = [run.pk for run in reversed(runs)]
    assert [row.record.pk for row in first.context["table"].page.object_list] == (
        newest[:25]
    )
    assert [row.record.pk for row in second.context["table"].page.object_list] == (
        newest[25:]
    )
    assert f'<a href="/runs/{runs[-1].pk}/">#{runs[-1].pk}</a>' in first.text


def test_it_answers_404_for_an_unknown_run(viewer_client):
    response = viewer_client.get(reverse("reconcile:run-detail", args=[999]))

    assert response.status_code == 404


def test_it_shows_the_run_its_summary_and_batches(viewer_client):
    run = make_run(
        summary={"verified": 120, "unreported_skip": 3},
        items_total=123,
        batches_total=2,
        batches_done=2,
        error="",
    )
    batch = make_batch(run, SyncBatch.Kind.DEAL_UPSERT, state=SyncBatch.State.DONE)
    batch.item_ids = list(range(100))
    batch.save()
    make_call(run, batch)
    make_call(run, batch, attempt=2)
    make_batch(run, SyncBatch.Kind.ASSOCIATION)

    response = viewer_client.get(reverse("reconcile:run-detail", args=[run.pk]))

    assert response.context["summary"] == [
        ("verified", "Verified", 120),
        ("unreported_skip", "Unreported skip", 3),
    ]
    assert response.context["duration"] == "1 min 23 s"
    batches = [
        (
            cells.get_cell("kind"),
            cells.get_cell("item_count"),
            cells.get_cell("call_count"),
        )
        for cells in response.context["batches"].page.object_list
    ]
    assert batches == [
        ("Deal upsert", 100, 2),
        ("Line item to deal associations", 0, 0),
    ]
    assert 'http-equiv="refresh"' not in response.text


def test_it_handles_an_empty_summary_and_shows_the_error(viewer_client):
    run = make_run(SyncRun.State.FAILED, summary={}, error="Daily limit reached")

    response = viewer_client.get(reverse("reconcile:run-detail", args=[run.pk]))

    assert response.context["summary"] == []
    assert "No outcomes recorded for this run." in response.text
    assert '<pre class="error-text">Daily limit reached</pre>' in response.text
    assert "No API calls recorded for this run." in response.text


def test_it_shows_each_call_with_its_rate_limit_and_pretty_bodies(viewer_client):
    run = make_run()
    make_call(
        run,
        status=207,
        correlation_id="abc-123",
        rate_limit={"max": 100, "remaining": 42, "daily_remaining": 5000},
        request_body='{"inputs":[{"id":"7001"}]}',
        response_body="Bad gateway",
    )

    response = viewer_client.get(reverse("reconcile:run-detail", args=[run.pk]))

    row = response.context["call_rows"][0]
    assert row["request"] == json.dumps({"inputs": [{"id": "7001"}]}, indent=2)
    assert row["response"] == "Bad gateway"
    assert row["remaining"] == "42/100 (day: 5000)"
    assert "<code>abc-123</code>" in response.text
    assert '<span class="status status-2xx">207</span>' in response.text


def test_it_renders_stored_bodies_as_escaped_text(viewer_client):
    run = make_run()
    make_call(
        run,
        status=502,
        request_body='{"name": "<script>alert(1)</script>"}',
        response_body="<html><script>alert(2)</script></html>",
    )

    response = viewer_client.get(reverse("reconcile:run-detail", args=[run.pk]))

    assert "<script>" not in response.text
    assert "&quot;name&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in (
        response.text
    )
    assert "&lt;html&gt;&lt;script&gt;alert(2)&lt;/script&gt;&lt;/html&gt;" in (
        response.text
    )


def test_it_pages_api_calls_20_at_a_time(viewer_client):
    run = make_run()
    calls = [make_call(run) for _ in range(23)]

    response = viewer_client.get(
        reverse("reconcile:run-detail", args=[run.pk]), {"calls": 2}
    )

    assert [row["call"].pk for row in response.context["call_rows"]] == [
        call.pk for call in calls[20:]
    ]


def test_it_refreshes_while_the_run_is_running(viewer_client):
    run = make_run(SyncRun.State.RUNNING)

    response = viewer_client.get(reverse("reconcile:run-detail", args=[run.pk]))

    assert '<meta http-equiv="refresh" content="5">' in response.text
