"""Drive a running sandbox's control endpoints from another process.

The demo uses it to play what people do inside HubSpot (edit a synced value,
delete a record, create one by hand) so that a reconciliation sweep has
something to find. Standard library only, like the sandbox, and refused for
anything but a loopback address: control endpoints exist only in the sandbox.
"""

import json
import logging
import urllib.request
from urllib.parse import urlsplit

from hubspot_sync.sandbox.server import is_loopback
from hubspot_sync.sandbox.webhooks import NoRedirects

logger = logging.getLogger(__name__)

# Straight to the loopback address: no proxy from the environment (http_proxy
# without no_proxy would send control calls elsewhere), no redirects followed.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirects())


class SandboxControl:
    def __init__(self, base_url: str, token: str, timeout: float = 10) -> None:
        host = urlsplit(base_url).hostname or ""
        if not is_loopback(host):
            raise ValueError(f"the sandbox runs on this machine only, not on {host!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def edit(self, kind: str, object_id: str, properties: dict, user_id: int = 0):
        body = {"properties": properties, **({"userId": user_id} if user_id else {})}
        return self._post(f"/_sandbox/edit/{kind}/{object_id}", body)

    def archive(self, kind: str, object_id: str) -> dict:
        return self._post(f"/_sandbox/archive/{kind}/{object_id}", {})

    def restore(self, kind: str, object_id: str) -> dict:
        return self._post(f"/_sandbox/restore/{kind}/{object_id}", {})

    def unlink(self, kind: str, object_id: str, to_kind: str, to_id: str) -> dict:
        return self._post(f"/_sandbox/unlink/{kind}/{object_id}/{to_kind}/{to_id}", {})

    def plant(self, kind: str, properties: dict) -> dict:
        return self._post(f"/_sandbox/records/{kind}", {"properties": properties})

    def configure_imports(self, processing_seconds: float) -> dict:
        return self._post(
            "/_sandbox/imports", {"processing_seconds": processing_seconds}
        )

    def _post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(  # noqa: S310  (loopback http, checked above)
            self.base_url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
        )
        with _DIRECT.open(request, timeout=self.timeout) as answer:
            return json.loads(answer.read() or b"{}")
