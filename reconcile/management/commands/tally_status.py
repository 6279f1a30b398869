import json

from django.core.management.base import BaseCommand

from reconcile.queries import status_counts


class Command(BaseCommand):
    help = "Print counts of orders, line items, deals, item states and runs."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, json: bool, **options):
        counts = status_counts()
        if json:
            self.stdout.write(_dumps(counts))
            return
        self.stdout.write(
            f"orders {counts['orders']}, line items {counts['line_items']}, "
            f"deals {counts['deals']}"
        )
        for object_type, states in counts["items_by_state"].items():
            shown = ", ".join(f"{s} {n}" for s, n in states.items() if n)
            self.stdout.write(f"{object_type}: {shown or 'none'}")
        runs = ", ".join(f"{s} {n}" for s, n in counts["runs_by_state"].items() if n)
        self.stdout.write(f"runs: {runs or 'none'}")


def _dumps(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True)
