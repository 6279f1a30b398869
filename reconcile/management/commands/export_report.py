"""Write a CSV report: the same bytes as the dashboard's export of that list."""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.http import QueryDict

from reconcile import reports
from reconcile.filters import filter_problems, filtered_items
from reconcile.tables import counted

# Each option (the list's query-string parameter), its placeholder and meaning.
FILTERS = {
    "q": ("TEXT", "search: order number, SKU, HubSpot ID, store key or reason code"),
    "state": ("STATE", "an item state, e.g. failed or unreported_skip"),
    "type": ("TYPE", "deals or line_items"),
    "association": ("ASSOCIATION", "n/a, pending, linked or failed"),
    "store": ("SLUG", "a store's slug"),
    "code": ("CODE", "one exact reason code, e.g. INVALID_OPTION"),
    "placed_after": ("DAY", "orders placed on or after this day (YYYY-MM-DD)"),
    "placed_before": ("DAY", "orders placed on or before this day (YYYY-MM-DD)"),
    "job": ("ID", "the items one HubSpot import carried (its id on the Jobs page)"),
    "ever": (
        "OUTCOME",
        "an outcome anywhere in the item's history, e.g. unreported_skip",
    ),
}
NOT_ITEMS = ("orphan", "order-problem")


class Command(BaseCommand):
    help = (
        "Write a CSV report of a dashboard list (UTF-8 with a byte-order mark), "
        "byte for byte what the list's Export CSV gives for the same filters."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "report",
            metavar="{" + ",".join(reports.COMMAND_REPORTS) + "}",
            help="items (every item), mismatches, unreported, failures, orphans "
            "or order-problems",
        )
        parser.add_argument(
            "--output",
            required=True,
            metavar="FILE",
            help="the file to write (replaced if it exists), or - for standard output",
        )
        for name, (placeholder, meaning) in FILTERS.items():
            parser.add_argument(
                _option(name),
                dest=name,
                metavar=placeholder,
                help=meaning,
            )

    def handle(self, *args, report: str, output: str, **options):
        params = _params(options)
        csv_report = self._report(report, params)

        if output == "-":
            self._write(csv_report, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            self.stderr.write(counted(csv_report.rows_written, "row"), style_func=str)
            return
        try:
            target = open(output, "wb")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}") from exc
        with target:
            self._write(csv_report, target)
        self.stdout.write(
            f"Wrote {counted(csv_report.rows_written, 'row')} to {output}"
        )

    def _report(self, name: str, params: QueryDict) -> reports.Report:
        if name not in reports.COMMAND_REPORTS:
            raise CommandError(
                f"Unknown report {name!r}: choose one of "
                f"{', '.join(reports.COMMAND_REPORTS)}."
            )
        category = reports.COMMAND_REPORTS[name]
        if category in NOT_ITEMS:
            if params:
                raise CommandError(f"The {name} report takes no filters.")
            return reports.for_category(category, params)

        chosen = filtered_items(params, category)
        if not chosen.is_valid():
            problems = filter_problems(chosen, _option)
            raise CommandError(f"Invalid filter: {problems}")
        return reports.items(params, category)

    def _write(self, report: reports.Report, target) -> None:
        try:
            for chunk in report:
                target.write(chunk)
        except OSError as exc:
            raise CommandError(f"Writing the report failed: {exc.strerror}") from exc


def _option(field: str) -> str:
    return f"--{field.replace('_', '-')}"


def _params(options: dict) -> QueryDict:
    params = QueryDict(mutable=True)
    for name in FILTERS:
        if options.get(name):
            params[name] = options[name]
    return params
