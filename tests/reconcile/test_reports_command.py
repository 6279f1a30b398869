import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse

from hubspot_sync.models import ImportJob, ItemState, Outcome
from reconcile.filters import ItemFilter
from reconcile.management.commands import export_report
from reconcile.models import Order, OrderProblem, Orphan
from tests.factories import (
    item,
    make_call,
    make_outcome,
    make_run,
    make_shop,
    set_state,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    store = make_shop()
    line = set_state("shop:1001:2", ItemState.MISMATCH, reason="=HYPERLINK(1)")
    make_outcome(
        line,
        Outcome.MISMATCH,
        make_call(make_run()),
        mismatches={"price": {"store": "2.55", "hubspot": "-2.5"}},
    )
    Orphan.objects.create(object_type="deals", hubspot_id="444", store_key="x:9")
    OrderProblem.objects.create(
        order=Order.objects.get(number="1001"),
        code=OrderProblem.Code.LINE_COUNT,
        store_value="3",
        hubspot_value="2",
    )
    return store


def web_export(client, address: str, params: dict) -> bytes:
    return b"".join(client.get(address, params).streaming_content)


def command_export(tmp_path, *args) -> bytes:
    target = tmp_path / "report.csv"
    call_command("export_report", *args, "--output", str(target))
    return target.read_bytes()


@pytest.mark.parametrize(
    "report, slug",
    [
        ("mismatches", "mismatch"),
        ("unreported", "unreported"),
        ("failures", "failed"),
        ("orphans", "orphan"),
        ("order-problems", "order-problem"),
    ],
)
def test_it_writes_the_bytes_of_the_lists_export(
    viewer_client, tmp_path, shop, report, slug
):
    address = reverse("reconcile:category-export", args=[slug])

    written = command_export(tmp_path, report)

    assert written == web_export(viewer_client, address, {})
    assert written.startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    "options, params",
    [
        ([], {}),
        (["--state", "pending"], {"state": "pending"}),
        (["--q", "SKU1", "--type", "line_items"], {"q": "SKU1", "type": "line_items"}),
        (
            ["--store", "shop", "--association", "linked"],
            {"store": "shop", "association": "linked"},
        ),
        (
            ["--placed-after", "2010-12-01", "--placed-before", "2010-12-01"],
            {"placed_after": "2010-12-01", "placed_before": "2010-12-01"},
        ),
        (["--code", "UNREPORTED_SKIP"], {"code": "UNREPORTED_SKIP"}),
    ],
)
def test_it_filters_as_the_items_export_does(
    viewer_client, tmp_path, shop, options, params
):
    written = command_export(tmp_path, "items", *options)

    assert written == web_export(viewer_client, "/items/export.csv", params)


def test_it_filters_by_import_job_and_past_outcome_as_the_export_does(
    viewer_client, tmp_path, shop
):
    chosen = [item("shop:1002").pk, item("shop:1002:1").pk]
    job = ImportJob.objects.create(object_type="line_items", item_ids=chosen)
    make_outcome(item("shop:1001:1"), Outcome.UNREPORTED_SKIP)  # settled since
    make_outcome(item("shop:1001:1"), Outcome.VERIFIED)

    for options, params, keys in (
        (["--job", str(job.pk)], {"job": job.pk}, ["shop:1002", "shop:1002:1"]),
        (["--ever", "unreported_skip"], {"ever": "unreported_skip"}, ["shop:1001:1"]),
        (
            ["--job", str(job.pk), "--ever", "unreported_skip"],
            {"job": job.pk, "ever": "unreported_skip"},
            [],
        ),
        (
            ["--ever", "mismatch", "--type", "line_items"],
            {"ever": "mismatch", "type": "line_items"},
            ["shop:1001:2"],
        ),
    ):
        written = command_export(tmp_path, "items", *options)

        assert written == web_export(viewer_client, "/items/export.csv", params)
        rows = written.decode("utf-8-sig").splitlines()[1:]
        assert [row.split(",")[0] for row in rows] == keys


def test_it_has_an_option_for_every_filter_of_the_lists():
    assert sorted(export_report.FILTERS) == sorted(ItemFilter.base_filters)


def test_it_refuses_an_outcome_or_job_it_cannot_read(tmp_path):
    with pytest.raises(CommandError) as error:
        call_command(
            "export_report",
            "items",
            "--output",
            str(tmp_path / "x.csv"),
            "--ever",
            "lost",
            "--job",
            "first",
        )

    assert str(error.value) == (
        "Invalid filter: --job: Enter a number.; --ever: Select a valid choice. "
        "lost is not one of the available choices."
    )


def test_the_last_day_a_date_can_name_leaves_the_range_open(
    viewer_client, tmp_path, shop
):
    params = {"placed_before": "9999-12-31"}

    written = command_export(tmp_path, "items", "--placed-before", "9999-12-31")

    assert written == web_export(viewer_client, "/items/export.csv", params)
    assert written == command_export(tmp_path, "items")


def test_the_filters_select_exactly_the_listed_items(tmp_path, shop):
    written = command_export(tmp_path, "items", "--state", "pending", "--type", "deals")

    assert written.decode("utf-8-sig").splitlines()[1:] == [
        f"shop:C1004,Deal,C1004,Test shop,,Pending,,Not applicable,,,,,,,,0,,,"
        f"{item('shop:C1004').state_changed:%Y-%m-%d %H:%M:%S}"
    ]


def test_it_writes_to_standard_output(viewer_client, shop, capfdbinary):
    call_command("export_report", "mismatches", "--output", "-")

    out, err = capfdbinary.readouterr()
    assert out == web_export(viewer_client, "/lists/mismatch/export.csv", {})
    assert err == b"1 row\n"


def test_it_says_how_many_rows_it_wrote(tmp_path, shop, capsys):
    target = tmp_path / "failures.csv"

    call_command("export_report", "failures", "--output", str(target))

    assert capsys.readouterr().out == f"Wrote 1 row to {target}\n"


def test_it_refuses_an_unknown_report(tmp_path):
    with pytest.raises(CommandError) as error:
        call_command("export_report", "everything", "--output", str(tmp_path / "x"))

    assert str(error.value) == (
        "Unknown report 'everything': choose one of items, mismatches, unreported, "
        "failures, orphans, order-problems."
    )


def test_it_needs_an_output(tmp_path):
    with pytest.raises(CommandError) as error:
        call_command("export_report", "items")

    assert str(error.value) == "Error: the following arguments are required: --output"


def test_it_says_why_it_cannot_write_the_file(tmp_path, shop):
    target = tmp_path / "missing" / "report.csv"

    with pytest.raises(CommandError) as error:
        call_command("export_report", "items", "--output", str(target))

    assert str(error.value) == f"Cannot write {target}: No such file or directory"


def test_it_refuses_a_filter_it_cannot_read(tmp_path):
    target = tmp_path / "report.csv"

    with pytest.raises(CommandError) as error:
        call_command(
            "export_report",
            "items",
            "--output",
            str(target),
            "--state",
            "lost",
            "--placed-after",
            "soon",
        )

    assert str(error.value) == (
        "Invalid filter: --state: Select a valid choice. lost is not one of the "
        "available choices.; --placed-after: Enter a valid date."
    )
    assert not target.exists()


def test_it_refuses_filters_on_orphans(tmp_path):
    with pytest.raises(CommandError) as error:
        call_command(
            "export_report", "orphans", "--output", str(tmp_path / "x"), "--q", "x"
        )

    assert str(error.value) == "The orphans report takes no filters."


def test_the_same_day_gives_the_same_bytes_twice(tmp_path, shop):
    with time_machine.travel("2026-12-04 10:00Z", tick=False):
        first = command_export(tmp_path, "items")
        second = command_export(tmp_path, "items")

    assert first == second
    assert first.count(b"\r\n") == 12
