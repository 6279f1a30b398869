"""A programmable HubSpot stand-in for answers the sandbox cannot be made to give."""

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Responder = Callable[[str, dict], tuple[int, dict]]


class FakeTime:
    """Stands in for time: sleeping moves its clock instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 1_800_000_000.0

    def __call__(self, seconds: float) -> None:
        if seconds > 0:
            self.waits.append(seconds)
            self.now += seconds

    def clock(self) -> float:
        return self.now

    def budget(self):
        from hubspot_sync.ratelimit import DatabaseBudget

        return DatabaseBudget(sleep=self, clock=self.clock)

    def client(self, url: str, token: str = "tok", **kwargs):
        from hubspot_sync.client import HubSpotClient

        return HubSpotClient(url, token, sleep=self, budget=self.budget(), **kwargs)


class FakeHubSpot:
    """Answers each POST with ``responder(path, body)``; records what it got."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[tuple[str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append((self.path, body))
                status, answer = fake.responder(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def batch(results: list[dict], errors: list[dict] | None = None) -> dict:
    answer = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2026-12-04T10:00:00.000Z",
        "completedAt": "2026-12-04T10:00:00.100Z",
    }
    if errors:
        answer["errors"], answer["numErrors"] = errors, len(errors)
    return answer


def echo(record_id: str, properties: dict, new: bool = True) -> dict:
    return {
        "id": record_id,
        "properties": {**properties, "hs_object_id": record_id},
        "createdAt": "2026-12-04T10:00:00.000Z",
        "updatedAt": "2026-12-04T10:00:00.000Z",
        "archived": False,
        "new": new,
    }
