from django.core.management.base import BaseCommand, CommandError

from hubspot_sync import engine, tasks
from hubspot_sync.management.progress import ProgressLine
from hubspot_sync.models import RETRYABLE_STATES, SyncRun
from hubspot_sync.text import format_duration


class Command(BaseCommand):
    help = "Sync every pending deal and line item to HubSpot."

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Run the sync in this process and return when it is done.",
        )
        parser.add_argument(
            "--retry",
            nargs="+",
            default=[],
            choices=[str(state) for state in RETRYABLE_STATES],
            metavar="STATE",
            help="Also send again the items in these states: "
            + ", ".join(RETRYABLE_STATES),
        )

        parser.add_argument(
            "--imports",
            action="store_true",
            help="Send never-sent items through HubSpot imports, however few "
            "(without it: when there are TALLY_IMPORT_THRESHOLD or more).",
        )

    def handle(
        self,
        *args,
        wait: bool,
        retry: list[str],
        imports: bool,
        verbosity: int,
        **options,
    ):
        run = engine.create_run(
            trigger="command", retry=tuple(retry), via_imports=imports
        )
        if not wait:
            tasks.enqueue("start_run", run.pk)
            self.stdout.write(
                f"Queued run {run.pk}. A worker (python manage.py qcluster) runs it."
            )
            return
        self._line = ProgressLine(self.stdout)
        run = engine.run_inline(run.pk, progress=self._progress if verbosity else None)
        self._line.end()
        if run.state != SyncRun.State.DONE:
            raise CommandError(f"Run {run.pk} could not finish: {run.error}")
        summary = ", ".join(f"{k} {v:,}" for k, v in sorted(run.summary.items()))
        self.stdout.write(
            f"Run {run.pk} done in {format_duration(run.duration)}: "
            f"{run.items_total:,} item{'' if run.items_total == 1 else 's'} sent"
            f" ({summary or 'nothing to do'})."
        )

    def _progress(self, run: SyncRun) -> None:
        """One line of progress (ProgressLine: overwritten on a terminal, one
        per line elsewhere, an import polled again without a repeat)."""
        jobs = ", ".join(
            f"import {job.hubspot_id or job.pk} {job.state}"
            for job in run.import_jobs.filter(finished__isnull=True)
        )
        self._line.show(
            f"Run {run.pk}: {run.get_phase_display()}, batch "
            f"{run.batches_done}/{run.batches_total}{'; ' + jobs if jobs else ''}"
        )
