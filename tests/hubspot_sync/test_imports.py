"""Backfills through HubSpot imports, end to end against the sandbox."""

import pytest

from hubspot_sync import engine, imports
from hubspot_sync.models import (
    Association,
    ImportJob,
    ItemOutcome,
    ItemState,
    ObjectType,
    SyncBatch,
    SyncItem,
)
from hubspot_sync.sandbox import imports as sandbox_imports
from tests.hubspot_sync.test_engine import make_orders

pytestmark = pytest.mark.django_db


@pytest.fixture
def quick(hubspot, monkeypatch):
    """Imports that end at once, and polls that do not wait."""
    sandbox_imports.configure(hubspot.store, 0)
    monkeypatch.setattr(imports, "sleep", lambda seconds: None)
    return hubspot


def backfill():
    return engine.run_inline(engine.create_run(via_imports=True).pk)


def test_it_verifies_and_links_every_imported_item(quick):
    make_orders(3, lines_each=2)

    run = backfill()

    assert run.state == "done"
    jobs = list(ImportJob.objects.order_by("pk"))
    assert [(j.object_type, j.state, j.rows) for j in jobs] == [
        (ObjectType.DEAL, "DONE", 3),
        (ObjectType.LINE_ITEM, "DONE", 6),
    ]
    assert jobs[1].objects_created == 6 and jobs[1].error_rows == 0
    assert all(j.finished and j.polls >= 1 for j in jobs)
    assert set(SyncItem.objects.values_list("state", flat=True)) == {"verified"}
    lines = SyncItem.objects.filter(object_type=ObjectType.LINE_ITEM)
    assert set(lines.values_list("association", flat=True)) == {Association.LINKED}
    assert not SyncItem.objects.exclude(lease_batch=None).exists()
    detail = ItemOutcome.objects.filter(outcome="verified").first().detail
    assert detail["settled_by"] == "import_read"


def test_it_uses_the_batch_path_below_the_threshold(quick):
    make_orders(2, lines_each=1)

    engine.run_inline(engine.create_run().pk)

    assert not ImportJob.objects.exists()
    assert not SyncBatch.objects.filter(kind=SyncBatch.Kind.IMPORT).exists()


def test_it_imports_from_the_threshold_on(quick, settings):
    settings.TALLY_IMPORT_THRESHOLD = 4
    make_orders(2, lines_each=1)

    engine.run_inline(engine.create_run().pk)

    assert ImportJob.objects.count() == 2


def test_it_splits_files_by_rows(quick, settings):
    settings.TALLY_IMPORT_FILE_ROWS = 4
    make_orders(2, lines_each=5)

    backfill()

    assert sorted(ImportJob.objects.values_list("rows", flat=True)) == [2, 2, 4, 4]
    assert SyncItem.objects.filter(state="verified").count() == 12


def test_it_turns_row_errors_into_failed_items(quick, monkeypatch):
    make_orders(3, lines_each=2)
    bad = SyncItem.objects.filter(object_type=ObjectType.LINE_ITEM).order_by("key")
    keys = list(bad.values_list("key", flat=True))[:5]
    for item in SyncItem.objects.filter(key__in=keys):
        item.properties["quantity"] = "six"
        item.save(update_fields=["properties"])
    monkeypatch.setattr(imports, "ERROR_PAGE", 2)

    backfill()

    failed = SyncItem.objects.filter(state=ItemState.FAILED)
    assert sorted(failed.values_list("key", flat=True)) == sorted(keys)
    item = failed.get(key=keys[0])
    assert item.reason_code == "COULD_NOT_PARSE_NUMBER"
    assert "quantity" in item.reason and item.next_step
    detail = item.outcomes.get(outcome="failed").detail
    assert detail["invalid_value"] == "six" and detail["line"] >= 2
    job = ImportJob.objects.get(object_type=ObjectType.LINE_ITEM)
    assert job.error_rows == 5
    # Three pages of two: every error reached its item.
    errors_calls = job.batch.calls.filter(endpoint__contains="/errors")
    assert errors_calls.count() == 3
    assert SyncItem.objects.filter(state="verified").count() == 9 - 5


def test_it_flags_rows_the_import_skipped_silently(quick, monkeypatch):
    make_orders(2, lines_each=2)
    skipped = SyncItem.objects.filter(object_type=ObjectType.LINE_ITEM).first()
    plan = sandbox_imports._FileImport._plan

    def skip_one(self, planner, line, row, columns, operation):
        if skipped.key in row:
            self.rows -= 0
            return None
        return plan(self, planner, line, row, columns, operation)

    monkeypatch.setattr(sandbox_imports._FileImport, "_plan", skip_one)

    backfill()

    skipped.refresh_from_db()
    assert skipped.state == ItemState.UNREPORTED_SKIP
    assert skipped.reason_code == "IMPORT_UNREPORTED"
    assert SyncItem.objects.filter(state="verified").count() == 5


def test_a_failed_import_leaves_its_items_to_the_batch_path(quick, monkeypatch):
    make_orders(2, lines_each=1)
    real = imports.import_file

    def unknown_property(job, items):
        request, content = real(job, items)
        mappings = request["files"][0]["fileImportPage"]["columnMappings"]
        mappings[1]["propertyName"] = "no_such_property"
        return request, content

    monkeypatch.setattr(imports, "import_file", unknown_property)

    run = backfill()

    assert run.state == "done"
    assert set(ImportJob.objects.values_list("state", flat=True)) == {"FAILED"}
    item = SyncItem.objects.first()
    assert item.state == ItemState.TRANSIENT
    assert item.reason_code == "IMPORT_FAILED"

    monkeypatch.setattr(imports, "import_file", real)
    engine.run_inline(engine.create_run(via_imports=True).pk)

    assert ImportJob.objects.count() == 2  # no new import: they went by batch
    assert set(SyncItem.objects.values_list("state", flat=True)) == {"verified"}


def test_a_refused_import_post_fails_the_job(quick, monkeypatch):
    make_orders(1, lines_each=1)
    real = imports.import_file

    def unnamed_file(job, items):
        request, content = real(job, items)
        request["files"][0]["fileName"] = "other.csv"
        return request, content

    monkeypatch.setattr(imports, "import_file", unnamed_file)

    backfill()

    job = ImportJob.objects.first()
    assert job.state == "FAILED" and job.hubspot_id == ""
    assert "refused the import file" in job.error
    assert SyncItem.objects.get(pk=job.item_ids[0]).state == ItemState.TRANSIENT


def test_it_keeps_the_file_out_of_stored_calls(quick):
    make_orders(1, lines_each=1)

    backfill()

    calls = ImportJob.objects.first().batch.calls
    post = calls.get(method="POST", endpoint="/crm/v3/imports")
    assert post.status == 200
    assert "importRequest" in post.request_body
    assert "bytes" in post.request_body
    assert "Order 536365" not in post.request_body  # no row of the file
    assert "sandbox-token" not in post.request_body


def test_a_negative_price_in_an_import_row_gets_the_negative_value_code():
    from hubspot_sync import reasons

    reason = reasons.for_error(
        "", "UNKNOWN_ERROR", "price must not be negative, got -4.", "price"
    )

    assert reason.code == "NEGATIVE_VALUE"
    assert reason.text.startswith("HubSpot refuses negative prices and amounts")
