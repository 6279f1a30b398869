"""The sandbox on a real socket: ``SandboxServer`` for tests, the command and scripts."""

import ipaddress
import logging
import socket
import struct
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from hubspot_sync.sandbox.app import DEFAULT_TOKEN, PORTAL_ID, SandboxApp
from hubspot_sync.sandbox.messages import Request, Response
from hubspot_sync.sandbox.profiles import find_profile
from hubspot_sync.sandbox.quirks import QuirkConfig
from hubspot_sync.sandbox.ratelimit import Limits
from hubspot_sync.sandbox.store import Store

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients with a session expect
    # Headers and body go out in two writes; with Nagle on, a keep-alive client
    # waits ~40 ms for the delayed ACK on every call.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:  # the names http.server calls
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        response = self.server.app.handle(self._request())
        try:
            if response.reset:
                self._reset()
            else:
                self._send(response)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first, as it should on a held answer.
            self.close_connection = True

    def _reset(self) -> None:
        # Linger 0 makes close() send RST instead of FIN: "connection reset by peer".
        self.close_connection = True
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        self.connection.close()

    def _request(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        url = urlsplit(self.path)
        address, port = self.server.server_address[:2]
        host = self.headers.get("Host") or f"{address}:{port}"
        return Request(
            method=self.command,
            path=url.path.rstrip("/") or "/",
            query=parse_qs(url.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            raw_body=self.rfile.read(length) if length else b"",
            correlation_id=str(uuid.uuid4()),
            base_url=f"http://{host}",
        )

    def _send(self, response: Response) -> None:
        payload = response.encode()
        self.send_response(response.status)
        if response.has_content:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s", self.address_string(), format % args)


class SandboxServer:
    """HubSpot's CRM API on a loopback port, backed by one SQLite file.

    ``port=0`` picks a free port; ``url`` is known after ``start()``. A
    ``profile`` (``"realistic"``) brings quirks, a hold time and a rate limit;
    arguments given with it win over the profile's.
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        quirks: QuirkConfig | None = None,
        rate_limit: int | None = None,
        interval_ms: int | None = None,
        daily_limit: int = 625_000,
        retry_after: bool = False,
        seed: int = 0,
        portal_id: int = PORTAL_ID,
        profile: str | None = None,
        hold_seconds: float | None = None,
        search_per_second: int = 5,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        webhook_own_changes: bool = False,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(
                f"the sandbox binds to loopback addresses only, not {host!r}"
            )
        chosen = find_profile(profile) if profile else None
        limits = Limits(
            _given(rate_limit, chosen.rate_limit if chosen else Limits.max_requests),
            _given(interval_ms, chosen.interval_ms if chosen else Limits.interval_ms),
            daily_limit,
            retry_after,
            search_per_second,
        )
        self.host = host
        self.port = port
        self.store = Store(db_path)
        try:
            self.app = SandboxApp(
                self.store,
                token=token,
                quirks=quirks,
                limits=limits,
                seed=seed,
                portal_id=portal_id,
                hold_seconds=hold_seconds,
                profile=profile,
                webhook_url=webhook_url,
                webhook_secret=webhook_secret,
                webhook_own_changes=webhook_own_changes,
            )
        except ValueError:
            self.store.close()
            raise
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "SandboxServer":
        """Bind and serve from a background thread."""
        self._httpd = _HTTPServer((self.host, self.port), self.app)
        self.port = self._httpd.server_address[1]
        # A short poll makes stop() quick, which a test suite feels.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(0.05,),
            name="hubspot-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.app.release()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.app.webhooks.stop()
        self.store.close()

    def configure(
        self,
        *,
        quirks: QuirkConfig | None = None,
        rate_limit: dict | None = None,
        seed: int | None = None,
        hold_seconds: float | None = None,
        profile: str | None = None,
    ) -> None:
        """Change quirks or limits while running, as POST /_sandbox/config does."""
        self.app.configure(
            quirks=quirks,
            rate_limit=rate_limit,
            seed=seed,
            hold_seconds=hold_seconds,
            profile=profile,
        )

    def reset(self) -> None:
        self.app.reset()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _given(value: int | None, fallback: int) -> int:
    return fallback if value is None else value
