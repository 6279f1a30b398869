from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hubspot_sync.properties import CUSTOM_PROPERTIES
from hubspot_sync.sandbox.clock import CLOCK, Clock
from hubspot_sync.sandbox.server import SandboxServer

SANDBOX_TOKEN = "sandbox-token"


class SandboxAPI:
    """Plain HTTP to a running sandbox, as any HubSpot client would send it."""

    def __init__(self, url: str, token: str = SANDBOX_TOKEN) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(
        self, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.url + path, json=body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any = None) -> requests.Response:
        return self.request("PATCH", path, body)

    def create_tally_properties(self) -> None:
        for definition in CUSTOM_PROPERTIES:
            response = self.post(
                f"/crm/v3/properties/{definition.object_type}", definition.as_request()
            )
            assert response.status_code == 201, response.text

    def create_deal(self, **properties: str) -> str:
        body = {"inputs": [{"properties": {"dealname": "Order 1001", **properties}}]}
        response = self.post("/crm/v3/objects/deals/batch/create", body)
        assert response.status_code == 201, response.text
        return response.json()["results"][0]["id"]

    def create_line_items(self, *properties: dict[str, Any]) -> list[str]:
        body = {"inputs": [{"properties": p} for p in properties]}
        response = self.post("/crm/v3/objects/line_items/batch/create", body)
        assert response.status_code == 201, response.text
        return [result["id"] for result in response.json()["results"]]

    def plant(self, kind: str, **properties: str) -> str:
        """Create a record by hand, as someone in HubSpot would."""
        response = self.post(f"/_sandbox/records/{kind}", {"properties": properties})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def merge(self, kind: str, primary: str, merged: str, **extra: Any) -> dict:
        body = {"primary": primary, "merged": merged, **extra}
        response = self.post(f"/_sandbox/merge/{kind}", body)
        assert response.status_code == 200, response.text
        return response.json()

    def search(self, kind: str, body: dict) -> requests.Response:
        return self.post(f"/crm/v3/objects/{kind}/search", body)


@pytest.fixture
def sandbox(tmp_path) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path / "sandbox.sqlite3") as server:
        yield server


@pytest.fixture
def frozen_clock() -> Iterator[Clock]:
    """The sandbox's clock, stopped; ``advance(seconds)`` moves it on."""
    CLOCK.freeze()
    yield CLOCK
    CLOCK.restore()


@pytest.fixture
def sandbox_api(sandbox) -> SandboxAPI:
    return SandboxAPI(sandbox.url)


@pytest.fixture
def keyed_api(sandbox_api) -> SandboxAPI:
    """A sandbox that already has Tally's custom properties, unique keys included."""
    sandbox_api.create_tally_properties()
    return sandbox_api
