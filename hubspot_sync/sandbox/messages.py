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
    """An answer: a JSON ``body`` (or ``raw`` bytes of another ``content_type``).

    ``hold_seconds`` delays sending it; ``reset`` drops the connection instead.
    """

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = JSON_CONTENT_TYPE
    hold_seconds: float = 0
    reset: bool = False

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def has_content(self) -> bool:
        return self.raw is not None or self.body is not None


@dataclass
class Context:
    """What a handler may use: the request, the sandbox's state, and how to behave.

    ``operation`` names the endpoint (``create``, ``search``, …). The fields
    after it are HubSpot's normal behaviour; quirks change them in ``before``.
    """

    request: Request
    store: "Store"
    quirks: "QuirkSet"
    portal_id: int
    operation: str = ""
    per_input_errors: bool = True  # 207 per input when every input is traced
    link_associations: bool = True
    unique_line_items: bool = True
    search_lag_ms: int = 0
