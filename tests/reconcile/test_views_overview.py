import json
import re
from io import StringIO

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse

from hubspot_sync.models import Association, ItemState, Outcome, SyncBatch, SyncRun
from tests.factories import make_run, make_shop, set_state

pytestmark = pytest.mark.django_db

URL = reverse("reconcile:overview")


def cell_links(html: str) -> dict[str, str]:
    """The items-list links on the page, as {query string: count shown}."""
    found = re.findall(r'href="/items/\?([^"]+)">([\d,]+)</a>', html)
    return {query.replace("&amp;", "&"): count for query, count in found}


def test_it_explains_how_to_get_data_in_when_empty(viewer_client):
    response = viewer_client.get(URL)

    assert "Nothing here yet" in response.text
    assert "python manage.py import_orders PATH --format online-retail" in response.text
    assert "python manage.py sync_hubspot" in response.text
    assert "No sync runs yet." in response.text
    assert 'http-equiv="refresh"' not in response.text


def test_it_counts_the_seeded_shop_exactly(viewer_client):
    make_shop()

    response = viewer_client.get(URL)

    assert response.context["counts"]["orders"] == 4
    assert response.context["state_rows"][:5] == [
        ("pending", "Pending", 1, 2),
        ("verified", "Verified", 1, 1),
        ("mismatch", "Mismatch", 0, 1),
        ("failed", "Failed", 0, 1),
        ("unreported_skip", "Unreported skip", 1, 1),
    ]
    assert response.context["line_item_total"] == 7
    assert "Nothing here yet" not in response.text


def test_it_links_each_count_to_the_filtered_items(viewer_client):
    make_shop()

    response = viewer_client.get(URL)

    assert cell_links(response.text) == {
        "state=pending&type=deals": "1",
        "state=pending&type=line_items": "2",
        "state=verified&type=deals": "1",
        "state=verified&type=line_items": "1",
        "state=mismatch&type=line_items": "1",
        "state=failed&type=line_items": "1",
        "state=unreported_skip&type=deals": "1",
        "state=unreported_skip&type=line_items": "1",
        "state=excluded&type=deals": "1",
        "state=excluded&type=line_items": "1",
        "type=deals": "4",
        "type=line_items": "7",
        "type=line_items&association=pending": "4",
        "type=line_items&association=n/a": "1",
        "type=line_items&association=linked": "2",
    }


def test_it_shows_unreported_skips_as_their_own_alert(viewer_client):
    make_shop()

    response = viewer_client.get(URL)

    assert re.search(
        r'<div class="card skips alert">\s*'
        r'<a href="/items/\?state=unreported_skip"><span class="number">2</span> '
        r"unreported skips open</a>",
        response.text,
    )
    # Those settled since are listed too, from their history.
    assert '<a href="/items/?ever=unreported_skip">' in response.text


def test_it_lists_the_latest_ten_runs_newest_first(viewer_client):
    runs = [make_run(items_total=n) for n in range(12)]

    response = viewer_client.get(URL)

    shown = [row.record.pk for row in response.context["runs"].rows]
    assert shown == [run.pk for run in reversed(runs)][:10]


def test_it_refreshes_and_shows_progress_while_a_run_is_running(viewer_client):
    make_run(SyncRun.State.RUNNING, batches_total=8, batches_done=3, items_total=700)

    response = viewer_client.get(URL)

    assert '<meta http-equiv="refresh" content="5">' in response.text
    assert '<progress max="8" value="3" aria-hidden="true"></progress> 3/8' in (
        response.text
    )


def test_it_counts_deals_in_hubspot_as_tally_status_does(viewer_client):
    make_shop()
    set_state("shop:1002", ItemState.VERIFIED, hubspot_id="9002")
    out = StringIO()

    response = viewer_client.get(URL)
    call_command("tally_status", "--json", stdout=out)

    assert json.loads(out.getvalue())["deals_in_hubspot"] == 2
    assert re.search(
        r'<div class="card"><span class="number">2</span> deals in HubSpot\s*'
        r'<span class="hint">of 4 staged; 1 not synced by design</span>',
        response.text,
    )
    assert re.search(
        r'<span class="number">7</span> line items\s*'
        r'<span class="hint">2 in HubSpot</span>',
        response.text,
    )


def test_it_shows_not_found_and_duplicate_items_in_their_colours(viewer_client):
    make_shop()
    set_state("shop:1002", ItemState.NOT_FOUND, hubspot_id="9002")
    set_state("shop:1002:2", ItemState.DUPLICATE)

    response = viewer_client.get(URL)

    assert ("not_found", "Not found", 1, 0) in response.context["state_rows"]
    assert ("duplicate", "Duplicate", 0, 1) in response.context["state_rows"]
    assert cell_links(response.text)["state=not_found&type=deals"] == "1"
    assert cell_links(response.text)["state=duplicate&type=line_items"] == "1"
    assert '<span class="badge badge-not_found">Not found</span>' in response.text
    assert '<span class="badge badge-duplicate">Duplicate</span>' in response.text


def test_it_has_a_badge_colour_for_every_state_outcome_and_association():
    stylesheet = open(finders.find("css/tally.css")).read()
    coloured = set(re.findall(r"\.badge-([\w-]+)[^{]*?(?=[,{])", stylesheet))
    values = {
        *ItemState.values,
        *Outcome.values,
        *SyncRun.State.values,
        *SyncBatch.State.values,
        *(value.replace("/", "") for value in Association.values),
    }

    assert values - coloured == set()


def test_it_links_a_favicon_so_browsers_stop_asking_for_one(viewer_client):
    page = viewer_client.get(URL)
    icon = viewer_client.get("/static/favicon.svg")

    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in (
        page.text
    )
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"".join(icon.streaming_content).startswith(b"<svg ")


def test_it_says_when_its_counts_were_counted_and_counts_again_after_work(
    viewer_client,
):
    make_shop()
    viewer_client.get(URL)
    set_state("shop:1002", ItemState.VERIFIED, hubspot_id="9002")

    cached = viewer_client.get(URL)
    make_run()  # work started: the counts are read again
    fresh = viewer_client.get(URL)

    assert "Counts on this page as of " in cached.text
    assert cached.context["categories"] != fresh.context["categories"]
    in_sync = {c["slug"]: c["count"] for c in fresh.context["categories"]}["in-sync"]
    was = {c["slug"]: c["count"] for c in cached.context["categories"]}["in-sync"]
    assert in_sync == was + 1
