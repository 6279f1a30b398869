"""What one HTTP exchange looks like to the sandbox's handlers."""

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubspot_sync.sandbox.errors import bad_request

if TYPE_CHECKING:
    from hubspot_sync.sandbox.quirks import QuirkSet
    from hubspot_sync.sandbox.store import Store

JSON_CONTENT_TYPE = "application/json;charset=utf-8"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_body: bytes
    correlation_id: str
    base_url: str

    def json(self) -> Any:
        try:
            return json.loads(self.raw_body or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise bad_request(f"Invalid input JSON: {error}") from None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def param_list(self, name: str) -> list[str]:
        """A list sent as ``a,b`` or as repeated parameters; both are seen in clients."""
        return [
            item
            for value in self.query.get(name, [])
            for item in value.split(",")
            if item
        ]

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() == "true"


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Context:
    """What a handler may use: the request and the sandbox's state."""

    request: Request
    store: "Store"
    quirks: "QuirkSet"
    portal_id: int
