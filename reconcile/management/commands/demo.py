"""Bring up the whole product on this machine on the bundled real data."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum

from hubspot_sync.management.progress import ProgressLine
from hubspot_sync.models import ApiCall, ItemState, ObjectType, SyncItem, SyncRun
from hubspot_sync.sandbox.remote import SandboxControl
from reconcile import categories
from reconcile.models import Sweep
from reconcile.sweep import create_sweep
from reconcile.tasks import enqueue_sweep

DATA_FILE = Path(settings.BASE_DIR) / "data" / "online-retail-2010-12_2011-01.csv.gz"
DEMO_TIMEOUT = 10  # seconds, the worker's HubSpot timeout in the demo
WORKER_GRACE = 20  # seconds for django-q to finish the batches in hand
IMPORT_SECONDS = 5  # the sandbox's processing time per import in the demo
PROGRESS_EVERY = 10  # seconds between progress lines when not on a terminal


class Command(BaseCommand):
    help = (
        "Import the bundled orders, start the HubSpot sandbox, a worker and the "
        "dashboard, and sync everything. Ctrl-C stops it all."
    )
    # The progress line (hubspot_sync.management.progress), made at first use.
    _line = None

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="Dashboard port")
        parser.add_argument("--no-sync", action="store_true")
        parser.add_argument(
            "--imports",
            action="store_true",
            help="Send the first sync through HubSpot imports (watch it on the "
            "Jobs page) instead of batch upserts",
        )
        parser.add_argument(
            "--profile",
            default="realistic",
            help="Sandbox quirk profile: realistic (HubSpot's partial answers at "
            "low rates, the default) or clean",
        )

    def handle(
        self, *args, port: int, no_sync: bool, profile: str, imports: bool, **options
    ):
        self._children: list[tuple[str, subprocess.Popen]] = []
        _require_free_port(port, "dashboard")
        _require_free_port(settings.SANDBOX_PORT, "HubSpot sandbox")
        # A closed terminal (SIGHUP) or a kill (SIGTERM) stops the demo as
        # Ctrl-C does: through the finally below, children included.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _raise_interrupt)
        try:
            self._prepare()
            self._start_children(port, profile)
            url = f"http://127.0.0.1:{port}/"
            self.stdout.write(self.style.SUCCESS(f"\nDashboard: {url}   {self._login}"))
            if not no_sync:
                self._sync_and_report(imports)
                self._play_people_in_hubspot()
                self._sweep_and_report()
            self.stdout.write(
                f"\nDashboard: {url}   {self._login}\nCtrl-C stops it all."
            )
            while all(child.poll() is None for _, child in self._children):
                time.sleep(0.5)
            raise CommandError(
                "A demo process stopped on its own; see its output above."
            )
        except KeyboardInterrupt:
            _ignore_stop_signals()
            self.stdout.write("\nStopping…")
        finally:
            # A second Ctrl-C or kill (a supervisor and a person both
            # signalling, say) must not cut the stopping short and orphan a
            # child: from here on the demo is stopping anyway.
            _ignore_stop_signals()
            self._stop_children()

    def _prepare(self) -> None:
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("demo_user", stdout=self._login_capture())
        call_command(
            "demo_user",
            "--role",
            "viewer",
            "--username",
            "viewer",
            stdout=self._login_capture(),
        )
        call_command("import_orders", str(DATA_FILE), format="online-retail")

    def _login_capture(self):
        command = self

        class Capture:
            def write(self, text: str) -> None:
                if text.strip():
                    previous = getattr(command, "_login", "")
                    line = text.strip()
                    command._login = f"{previous}   {line}" if previous else line

            def flush(self) -> None:
                pass

        return Capture()

    def _start_children(self, port: int, profile: str) -> None:
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        # The sandbox tells the dashboard of edits made "in HubSpot" by signed
        # webhooks, as a HubSpot app subscription would.
        sandbox = [
            "hubspot_sandbox",
            "--port",
            str(settings.SANDBOX_PORT),
            "--webhook-url",
            f"http://127.0.0.1:{port}/hubspot/webhooks/",
            "--webhook-secret",
            settings.HUBSPOT_CLIENT_SECRET,
        ]
        if profile != "clean":
            sandbox += ["--profile", profile, "--seed", "1"]
            sandbox += ["--hold-seconds", str(DEMO_TIMEOUT + 2)]
        self._spawn("sandbox", manage + sandbox)
        # The realistic profile holds some answers after writing; a short
        # client timeout keeps the demo moving (the write is then settled).
        worker_env = {**os.environ, "HUBSPOT_TIMEOUT": str(DEMO_TIMEOUT)}
        self._spawn("worker", manage + ["qcluster"], env=worker_env)
        self._spawn("web", manage + ["runserver", f"127.0.0.1:{port}", "--noreload"])
        _wait_for_port(settings.SANDBOX_PORT, "HubSpot sandbox")
        _wait_for_port(port, "dashboard")

    def _spawn(self, name: str, argv: list[str], env=None) -> None:
        # Own process group, so that Ctrl-C reaches only this command, which
        # then stops each child and everything the child started, in order.
        child = subprocess.Popen(argv, start_new_session=True, env=env)
        self._children.append((name, child))

    def _stop_children(self) -> None:
        # A second Ctrl-C must not cut the stopping short and orphan children.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        # The worker first, so that no batch is cut off by a vanished sandbox;
        # SIGINT lets django-q finish the task in hand (its SIGTERM handling
        # was seen to hang here). The sandbox last.
        order = {"worker": 0, "web": 1, "sandbox": 2}
        for name, child in sorted(self._children, key=lambda pair: order[pair[0]]):
            _stop_group(child, timeout=WORKER_GRACE if name == "worker" else 5)

    def _sync_and_report(self, imports: bool = False) -> None:
        started = time.monotonic()
        calls_before = ApiCall.objects.count()
        if imports:
            # Long enough to watch STARTED, PROCESSING and DONE on the Jobs page.
            SandboxControl(
                settings.HUBSPOT_BASE_URL, settings.HUBSPOT_ACCESS_TOKEN
            ).configure_imports(processing_seconds=IMPORT_SECONDS)
        call_command("sync_hubspot", imports=imports)
        run = SyncRun.objects.order_by("-pk").first()
        while run.state in (SyncRun.State.QUEUED, SyncRun.State.RUNNING):
            time.sleep(1)
            run.refresh_from_db()
            self._progress(
                f"Sync run {run.pk}: {run.get_phase_display()}, batch "
                f"{run.batches_done}/{run.batches_total}"
            )
        self._end_progress()
        calls = ApiCall.objects.count() - calls_before
        wait_ms = ApiCall.objects.filter(run=run).aggregate(s=Sum("duration_ms"))["s"]
        summary = ", ".join(f"{k} {v}" for k, v in sorted(run.summary.items()))
        self.stdout.write(
            f"Sync run {run.pk} {run.state} in {time.monotonic() - started:.1f} s: "
            f"{run.items_total} items, {calls} HubSpot calls "
            f"({(wait_ms or 0) / 1000:.1f} s waiting on HubSpot). {summary}"
        )
        if run.error:
            self.stdout.write(self.style.ERROR(run.error))

    def _play_people_in_hubspot(self) -> None:
        """Change a few synced records inside the sandbox, as people in HubSpot do.

        Three line items and two deals edited by hand, one line item deleted,
        and one deal created by hand with a store key the store does not
        know: the sweep that follows must find each, and a retry puts the
        store's values back.
        """
        control = SandboxControl(
            settings.HUBSPOT_BASE_URL, settings.HUBSPOT_ACCESS_TOKEN
        )
        synced = SyncItem.objects.filter(state=ItemState.VERIFIED).exclude(
            hubspot_id=""
        )
        lines = list(synced.filter(object_type=ObjectType.LINE_ITEM).order_by("pk")[:4])
        deals = list(synced.filter(object_type=ObjectType.DEAL).order_by("pk")[:2])
        if len(lines) < 4 or len(deals) < 2:
            self.stdout.write("Too few synced records to play HubSpot edits; skipped.")
            return
        edits = [
            ("line_items", lines[0], {"quantity": _times_ten(lines[0], "quantity")}),
            ("line_items", lines[1], {"price": "0.01"}),
            ("line_items", lines[2], {"name": "Renamed in HubSpot"}),
            ("deals", deals[0], {"amount": "0"}),
            ("deals", deals[1], {"dealname": "Renamed in HubSpot"}),
        ]
        for kind, item, properties in edits:
            control.edit(kind, item.hubspot_id, properties)
        control.archive("line_items", lines[3].hubspot_id)
        orphan_key = deals[0].key.rsplit(":", 1)[0] + ":DEMO-MADE-IN-HUBSPOT"
        control.plant(
            "deals",
            {
                "dealname": "Made by hand in HubSpot",
                "amount": "1",
                "tally_order_key": orphan_key,
            },
        )
        self.stdout.write(
            "Played people in HubSpot: edited 3 line items and 2 deals, deleted "
            f"1 line item, created deal {orphan_key!r} by hand."
        )

    def _sweep_and_report(self) -> None:
        started = time.monotonic()
        # The schedule may have started one as the worker came up: let it end
        # first, so that the sweep reported here sees the edits just made.
        active = (Sweep.State.QUEUED, Sweep.State.RUNNING)
        while Sweep.objects.filter(state__in=active).exists():
            time.sleep(1)
        sweep = create_sweep(trigger="demo")
        enqueue_sweep(sweep.pk)
        while sweep.state in (Sweep.State.QUEUED, Sweep.State.RUNNING):
            time.sleep(1)
            sweep.refresh_from_db()
            self._progress(
                f"Sweep {sweep.pk}: {sweep.items_checked}/{sweep.items_total} items "
                f"checked, {sweep.calls} calls"
            )
        self._end_progress()
        self.stdout.write(
            f"Sweep {sweep.pk} {sweep.state} in {time.monotonic() - started:.1f} s."
        )
        if sweep.error:
            self.stdout.write(self.style.ERROR(sweep.error))
            return
        for category in categories.CATEGORIES:
            count = sweep.counts.get(category.slug, 0)
            if count and category.attention:
                self.stdout.write(f"  {category.label}: {count}")

    def _progress(self, line: str) -> None:
        if self._line is None:
            self._line = ProgressLine(self.stdout, every=PROGRESS_EVERY)
        self._line.show(line)

    def _end_progress(self) -> None:
        if self._line is not None:
            self._line.end()


def _times_ten(item: SyncItem, name: str) -> str:
    return str(int(item.properties[name]) * 10)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _ignore_stop_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def _stop_group(child: subprocess.Popen, timeout: float) -> None:
    if child.poll() is None:
        _signal_group(child, signal.SIGINT)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(child, signal.SIGKILL)  # whatever of the group is left
    child.wait()


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        pass


def _require_free_port(port: int, what: str) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise CommandError(
                f"Port {port} for the {what} is already in use; stop what runs there "
                "(an earlier demo?) and try again."
            )


def _wait_for_port(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise CommandError(f"The {what} did not start on port {port}.")
