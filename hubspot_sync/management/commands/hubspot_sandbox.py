"""manage.py hubspot_sandbox: run Tally's local HubSpot sandbox until Ctrl-C or SIGTERM."""

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hubspot_sync.sandbox.profiles import PROFILES
from hubspot_sync.sandbox.quirks import DEFAULT_HOLD_SECONDS, REGISTRY, parse_quirk
from hubspot_sync.sandbox.server import SandboxServer, is_loopback


class Command(BaseCommand):
    help = (
        "Run Tally's local HubSpot sandbox on a loopback address. See docs/sandbox.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)"
        )
        parser.add_argument("--port", type=int, default=settings.SANDBOX_PORT)
        parser.add_argument(
            "--db", help="SQLite file (default VAR_DIR/sandbox.sqlite3)"
        )
        parser.add_argument(
            "--token",
            default=settings.SANDBOX_TOKEN,
            help="the bearer token it accepts",
        )
        parser.add_argument(
            "--rate-limit",
            type=int,
            help="requests per window (default 190, or the profile's); 0 = unlimited",
        )
        parser.add_argument(
            "--interval-ms",
            type=int,
            help="the rolling window (default 10000, or the profile's)",
        )
        parser.add_argument(
            "--search-limit",
            type=int,
            default=5,
            help="search requests per second; 0 = unlimited",
        )
        parser.add_argument(
            "--daily-limit",
            type=int,
            default=625_000,
            help="requests per UTC day; 0 = unlimited",
        )
        parser.add_argument(
            "--retry-after", action="store_true", help="send Retry-After on 429"
        )
        parser.add_argument(
            "--quirk",
            action="append",
            default=[],
            metavar="NAME[=RATE]",
            help=f"switch a quirk on (repeatable): {', '.join(sorted(REGISTRY))}",
        )
        parser.add_argument(
            "--profile",
            choices=sorted(PROFILES),
            help="a mix of quirks and limits; --quirk and the limits override it",
        )
        parser.add_argument(
            "--hold-seconds",
            type=float,
            help=f"how long timeout_after_write holds an answer (default {DEFAULT_HOLD_SECONDS:g})",
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="seed for the quirks' random choices"
        )
        parser.add_argument(
            "--reset", action="store_true", help="wipe the sandbox's records first"
        )
        parser.add_argument(
            "--webhook-url",
            help="POST signed webhook batches here when records change (loopback only)",
        )
        parser.add_argument(
            "--webhook-secret",
            help="the app's client secret that signs them (required with --webhook-url)",
        )
        parser.add_argument(
            "--webhook-own-changes",
            action="store_true",
            help="deliver changes made through the API too, not only people's",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not is_loopback(options["host"]):
            raise CommandError(
                f"The sandbox is for this machine only; {options['host']} is not a loopback address."
            )
        db_path = Path(options["db"] or Path(settings.VAR_DIR) / "sandbox.sqlite3")
        db_path.parent.mkdir(parents=True, exist_ok=True)
        server = self._server(db_path, options)
        if options["reset"]:
            server.reset()

        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            server.start()
        except OSError as error:
            server.stop()
            raise CommandError(
                f"Cannot listen on {options['host']}:{options['port']}: {error}"
            ) from None
        self.stdout.write(
            f"HubSpot sandbox listening on {server.url} (db {db_path}); {_settings(server)}"
        )
        self.stdout.flush()
        try:
            stop.wait()
        finally:
            server.stop()

    def _server(self, db_path: Path, options: dict[str, Any]) -> SandboxServer:
        try:
            quirks = dict(parse_quirk(text) for text in options["quirk"])
            return SandboxServer(
                db_path,
                host=options["host"],
                port=options["port"],
                token=options["token"],
                quirks=quirks,
                rate_limit=options["rate_limit"],
                interval_ms=options["interval_ms"],
                daily_limit=options["daily_limit"],
                retry_after=options["retry_after"],
                seed=options["seed"],
                profile=options["profile"],
                hold_seconds=options["hold_seconds"],
                search_per_second=options["search_limit"],
                webhook_url=options["webhook_url"],
                webhook_secret=options["webhook_secret"],
                webhook_own_changes=options["webhook_own_changes"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None


def _settings(server: SandboxServer) -> str:
    """The profile, the hold when it matters, and the quirks, for the start-up line."""
    config = server.app.describe()
    parts = [f"profile {config['profile']}"] if config["profile"] else []
    if "timeout_after_write" in config["quirks"]:
        parts.append(f"hold {config['hold_seconds']:g}s")
    quirks = ", ".join(f"{name}={rate:g}" for name, rate in config["quirks"].items())
    parts.append(f"quirks: {quirks or 'none'}")
    if config["webhooks"]["url"]:
        parts.append(f"webhooks to {config['webhooks']['url']}")
    return "; ".join(parts)
