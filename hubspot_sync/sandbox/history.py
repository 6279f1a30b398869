"""Property history: who set each value of a record, and when (api-facts §1.2).

Every write that changes a value adds one version of that property. Writes
through the API come from the private app (``INTEGRATION``); the control
endpoints that play a person in HubSpot write as ``CRM_UI`` with a user ID.
Reads asking for ``propertiesWithHistory`` answer the versions newest first as
``ValueWithTimestamp`` objects.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubspot_sync.sandbox.clock import iso

# The sandbox's private app and the user a person's edit is made by, unless
# the control call names another (sandbox choices: no source gives real ones).
APP_ID = "1837263"
DEFAULT_USER_ID = 2934716
# "The maximum number of inputs supported in a batch request for property
# histories is 50" (api-facts §1.4).
MAX_HISTORY_INPUTS = 50


@dataclass(frozen=True)
class Source:
    type: str
    id: str
    user_id: int | None = None


API = Source("INTEGRATION", APP_ID)


def person(user_id: int = DEFAULT_USER_ID) -> Source:
    return Source("CRM_UI", f"userId:{user_id}", user_id)


@dataclass(frozen=True)
class Version:
    value: str
    timestamp_ms: int
    source: Source

    def render(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "value": self.value,
            "timestamp": iso(self.timestamp_ms),
            "sourceType": self.source.type,
            "sourceId": self.source.id,
        }
        if self.source.user_id is not None:
            body["updatedByUserId"] = self.source.user_id
        return body


def changes(
    before: Mapping[str, str], after: Mapping[str, str]
) -> list[tuple[str, str]]:
    """(name, new value) for each property the write set, changed or cleared."""
    changed = [
        (name, value) for name, value in after.items() if before.get(name) != value
    ]
    cleared = [(name, "") for name in before if name not in after]
    return changed + cleared
