"""A 20,000-item backfill through HubSpot imports against the sandbox."""

import pytest

from hubspot_sync import engine, imports
from hubspot_sync.models import ImportJob, ItemState, SyncItem
from hubspot_sync.sandbox import imports as sandbox_imports
from tests.hubspot_sync.test_engine import make_orders

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_every_item_of_a_large_backfill_ends_verified_or_flagged(
    hubspot, monkeypatch, settings
):
    settings.TALLY_IMPORT_THRESHOLD = 20_000
    settings.TALLY_IMPORT_FILE_ROWS = 10_000
    sandbox_imports.configure(hubspot.store, 0.5)
    monkeypatch.setattr(imports, "sleep", lambda seconds: None)
    make_orders(2_000, lines_each=9)
    # Three rows HubSpot refuses, and one it skips without a word.
    bad = list(SyncItem.objects.filter(object_type="line_items").order_by("pk")[:4])
    for item in bad[:3]:
        item.properties["price"] = "n/a"
        item.save(update_fields=["properties"])
    plan = sandbox_imports._FileImport._plan

    def skip(self, planner, line, row, columns, operation):
        return (
            None
            if bad[3].key in row
            else plan(self, planner, line, row, columns, operation)
        )

    monkeypatch.setattr(sandbox_imports._FileImport, "_plan", skip)

    run = engine.run_inline(engine.create_run().pk)

    assert run.state == "done" and SyncItem.objects.count() == 20_000
    assert ImportJob.objects.count() == 3  # 2,000 deals; 18,000 lines in two
    assert set(ImportJob.objects.values_list("state", flat=True)) == {"DONE"}
    states = {
        state: SyncItem.objects.filter(state=state).count()
        for state in SyncItem.objects.values_list("state", flat=True).distinct()
    }
    assert states == {
        ItemState.VERIFIED: 19_996,
        ItemState.FAILED: 3,
        ItemState.UNREPORTED_SKIP: 1,
    }
    assert not SyncItem.objects.filter(outcomes__isnull=True).exists()
    assert not SyncItem.objects.exclude(lease_batch=None).exists()
    linked = SyncItem.objects.filter(object_type="line_items", association="linked")
    assert linked.count() == 17_996
