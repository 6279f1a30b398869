import json
from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.urls import reverse

from hubspot_sync import engine
from hubspot_sync.models import SyncBatch, SyncRun
from reconcile.templatetags.tally import format_duration
from tests.factories import PLACED, make_batch, make_call, make_run

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
    assert "<dt>Duration</dt><dd>1 min 23 s</dd>" in response.text
    batches = [
        (
            cells.get_cell("kind"),
            cells.get_cell("item_count"),
            cells.get_cell("call_count"),
        )
        for cells in response.context["batches"].page.object_list
    ]
    assert batches == [
        ("Deal upsert", "100", "2"),
        ("Line item to deal associations", "0", "0"),
    ]
    assert 'http-equiv="refresh"' not in response.text


def test_it_handles_an_empty_summary_and_shows_the_error(viewer_client):
    run = make_run(SyncRun.State.FAILED, summary={}, error="Daily limit reached")

    response = viewer_client.get(reverse("reconcile:run-detail", args=[run.pk]))

    assert response.context["summary"] == []
    assert "No outcomes recorded for this run." in response.text
    assert '<pre class="error-text">Daily limit reached</pre>' in response.text
    assert "No API calls recorded for this run." in response.text


def test_it_lists_each_call_with_its_rate_limit_and_a_link_to_its_bodies(
    viewer_client,
):
    run = make_run()
    call = make_call(
        run,
        status=207,
        correlation_id="abc-123",
        rate_limit={"max": 100, "remaining": 42, "daily_remaining": 5000},
        request_body='{"inputs":[{"id":"request-7001"}]}',
        response_body="Bad gateway from the response",
    )

    response = viewer_client.get(reverse("reconcile:run-detail", args=[run.pk]))

    assert response.context["call_rows"] == [
        {"call": call, "remaining": "42/100 (day: 5,000)"}
    ]
    assert f'<tr id="call-{call.pk}">' in response.text
    assert f'<a href="/calls/{call.pk}/">#{call.pk}</a>' in response.text
    assert "<code>abc-123</code>" in response.text
    assert '<span class="status status-2xx">207</span>' in response.text
    assert "request-7001" not in response.text
    assert "Bad gateway from the response" not in response.text


def test_it_keeps_the_run_page_small_however_big_the_bodies(viewer_client):
    run = make_run()
    body = json.dumps({"inputs": [{"id": f"shop:{n}"} for n in range(5000)]})
    for _ in range(20):
        make_call(run, request_body=body, response_body=body)

    response = viewer_client.get(reverse("reconcile:run-detail", args=[run.pk]))

    assert len(body) > 80_000
    assert "shop:4999" not in response.text
    assert len(response.content) < 30_000


def test_it_shows_one_calls_bodies_pretty_and_escaped_on_its_page(viewer_client):
    run = make_run()
    call = make_call(
        run,
        status=502,
        rate_limit={"max": 190, "remaining": 20, "daily_remaining": 624814},
        request_body='{"name": "<script>alert(1)</script>"}',
        response_body="<html><script>alert(2)</script></html>",
        error="HTTP 502",
    )

    response = viewer_client.get(reverse("reconcile:call-detail", args=[call.pk]))

    assert response.context["request_body"] == json.dumps(
        {"name": "<script>alert(1)</script>"}, indent=2
    )
    assert "<script>" not in response.text
    assert (
        '<pre class="body">{\n  &quot;name&quot;: '
        "&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;\n}</pre>"
    ) in response.text
    assert (
        '<pre class="body">&lt;html&gt;&lt;script&gt;alert(2)&lt;/script&gt;'
        "&lt;/html&gt;</pre>"
    ) in response.text
    assert "<dt>Rate limit remaining</dt><dd>20/190 (day: 624,814)</dd>" in (
        response.text
    )
    assert '<dd class="error-text">HTTP 502</dd>' in response.text


def test_it_links_a_call_to_the_page_of_its_run_that_lists_it(viewer_client):
    run = make_run()
    calls = [make_call(run) for _ in range(23)]
    make_call(make_run())  # another run's call in between counts for nothing
    later = make_call(run)

    third = viewer_client.get(reverse("reconcile:call-detail", args=[calls[2].pk]))
    last = viewer_client.get(reverse("reconcile:call-detail", args=[later.pk]))

    assert third.context["run_url"] == f"/runs/{run.pk}/?calls=1#call-{calls[2].pk}"
    assert last.context["run_url"] == f"/runs/{run.pk}/?calls=2#call-{later.pk}"
    assert f'<dt>Run</dt><dd><a href="/runs/{run.pk}/?calls=2#call-{later.pk}">' in (
        last.text
    )


def test_it_answers_404_for_an_unknown_call(viewer_client):
    response = viewer_client.get(reverse("reconcile:call-detail", args=[999]))

    assert response.status_code == 404


def test_it_pages_api_calls_20_at_a_time(viewer_client):
    run = make_run()
    calls = [make_call(run) for _ in range(23)]

    response = viewer_client.get(
        reverse("reconcile:run-detail", args=[run.pk]), {"calls": 2}
    )

    assert [row["call"].pk for row in response.context["call_rows"]] == [
        call.pk for call in calls[20:]
    ]


@pytest.mark.parametrize("state", [SyncRun.State.QUEUED, SyncRun.State.RUNNING])
def test_it_refreshes_until_the_run_ends(viewer_client, state):
    """An operator lands here after confirming a retry, while it is still queued."""
    run = make_run(state)

    response = viewer_client.get(reverse("reconcile:run-detail", args=[run.pk]))

    assert '<meta http-equiv="refresh" content="5">' in response.text


def test_it_groups_thousands_in_the_runs_tables(viewer_client):
    run = make_run(items_total=80797, batches_total=1200, batches_done=1200)
    batch = make_batch(run, SyncBatch.Kind.ASSOCIATION)
    batch.item_ids = list(range(1000))
    batch.save()

    runs = viewer_client.get(reverse("reconcile:run-list"))
    detail = viewer_client.get(reverse("reconcile:run-detail", args=[run.pk]))

    row = runs.context["table"].page.object_list[0]
    assert row.get_cell("items_total") == "80,797"
    assert row.get_cell("progress") == (
        '<progress max="1200" value="1200" aria-hidden="true"></progress> 1,200/1,200'
    )
    assert '<td class="num">80,797</td>' in runs.text
    assert "<dt>Items</dt><dd>80,797</dd>" in detail.text
    assert "1,200/1,200 batches" in detail.text
    batch_row = detail.context["batches"].page.object_list[0]
    assert batch_row.get_cell("item_count") == "1,000"


@pytest.mark.parametrize(
    "duration, shown",
    [
        (timedelta(seconds=0.35634), "0.4 s"),
        (timedelta(seconds=59.94), "59.9 s"),
        (timedelta(seconds=59.96), "1 min 0 s"),
        (timedelta(seconds=72.4), "1 min 12 s"),
        (timedelta(seconds=3725), "1 h 2 min"),
        (None, "—"),
    ],
)
def test_it_says_durations_as_people_do(duration, shown):
    assert format_duration(duration) == shown


def test_it_shows_run_durations_in_those_words(viewer_client):
    run = make_run(finished=PLACED + timedelta(seconds=72.4))

    listed = viewer_client.get(reverse("reconcile:run-list"))
    detail = viewer_client.get(reverse("reconcile:run-detail", args=[run.pk]))

    row = listed.context["table"].page.object_list[0]
    assert row.get_cell("duration") == "1 min 12 s"
    assert "<dt>Duration</dt><dd>1 min 12 s</dd>" in detail.text


def test_sync_hubspot_prints_the_run_duration_in_those_words():
    run = make_run(
        finished=PLACED + timedelta(seconds=0.35634),
        items_total=80797,
        summary={"verified": 80797, "associated": 77462},
    )
    out = StringIO()

    with mock.patch.object(engine, "run_inline", autospec=True, return_value=run):
        call_command("sync_hubspot", "--wait", verbosity=0, stdout=out)

    assert out.getvalue() == (
        f"Run {run.pk} done in 0.4 s: 80,797 items sent "
        "(associated 77,462, verified 80,797).\n"
    )
