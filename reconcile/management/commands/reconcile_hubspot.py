from django.core.management.base import BaseCommand, CommandError

from reconcile import categories
from reconcile.models import Sweep
from reconcile.sweep import SweepInProgress, create_sweep, run_sweep_inline
from reconcile.tasks import enqueue_sweep


class Command(BaseCommand):
    help = (
        "Compare the store with HubSpot (a reconciliation sweep) and print the "
        "items per category."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Run the sweep in this process, showing its progress, instead of queueing it.",
        )

    def handle(self, *args, wait: bool, **options):
        try:
            sweep = create_sweep(trigger="command")
        except SweepInProgress as exc:
            raise CommandError(str(exc)) from None
        if not wait:
            enqueue_sweep(sweep.pk)
            self.stdout.write(
                f"Sweep {sweep.pk} queued; a qcluster worker runs it. Counts now:"
            )
            self._print_counts(categories.counts())
            return
        self._shown = -1
        sweep = run_sweep_inline(sweep.pk, progress=self._progress)
        if sweep.state != Sweep.State.DONE:
            raise CommandError(f"Sweep {sweep.pk} failed: {sweep.error}")
        self.stdout.write(
            f"Sweep {sweep.pk} done: {sweep.items_checked} items checked, "
            f"{sweep.calls} HubSpot calls."
        )
        self._print_counts(sweep.counts)

    def _progress(self, sweep: Sweep) -> None:
        # One line per tenth of the items, not one per batch read.
        tenth = sweep.items_checked * 10 // max(sweep.items_total, 1)
        if tenth != self._shown:
            self._shown = tenth
            self.stdout.write(
                f"  checked {sweep.items_checked} of {sweep.items_total} items, "
                f"{sweep.calls} calls"
            )

    def _print_counts(self, counts: dict[str, int]) -> None:
        width = max(len(category.label) for category in categories.CATEGORIES)
        for category in categories.CATEGORIES:
            count = counts.get(category.slug, 0)
            self.stdout.write(f"  {category.label:<{width}}  {count:>8,}")
