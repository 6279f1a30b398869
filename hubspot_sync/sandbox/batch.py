"""The batch protocol's envelope: parsing ``inputs`` and answering ``BatchResponse…``."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hubspot_sync.sandbox.clock import now_iso
from hubspot_sync.sandbox.errors import bad_request
from hubspot_sync.sandbox.messages import Response

# "Object API batch endpoints are limited to 100 inputs per request" (D-OBJ).
MAX_INPUTS = 100


def batch_inputs(body: Any, limit: int = MAX_INPUTS) -> list[dict[str, Any]]:
    """The ``inputs`` list of a batch body; raise ApiError when it is malformed or too long."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise bad_request("Invalid input JSON: the body needs an `inputs` list")
    inputs = body["inputs"]
    if not all(isinstance(item, dict) for item in inputs):
        raise bad_request("Invalid input JSON: every input must be an object")
    if len(inputs) > limit:
        # No source gives HubSpot's wording (api-facts §1.4); this follows its
        # message for the 50-input cap on property history.
        raise bad_request(
            f"The maximum number of inputs supported in a batch request is {limit}. "
            "Please reduce the number of items and try again"
        )
    return inputs


def input_id(item: dict[str, Any]) -> str:
    value = item.get("id")
    if value is None or isinstance(value, dict | list | bool):
        raise bad_request("Invalid input JSON: every input needs an `id`")
    return str(value)


def refuse_duplicate_ids(ids: list[str]) -> None:
    # Sandbox wording: HubSpot refuses a batch that names one record twice, but no
    # stored source quotes the message.
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise bad_request(
            f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
        )


@dataclass
class BatchOutcome:
    """What a batch call did, before quirks reshape it and it becomes a response."""

    operation: str  # create, read, update, upsert, associate, read_associations
    kind: str
    success_status: int
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    started_at: str = field(default_factory=now_iso)
    # A 207 with no errors, as reported for batch updates (api-facts §2.1).
    force_multi_status: bool = False
    # Update inputs that named a merged-away record, which batch update does not follow.
    merged_away: set[str] = field(default_factory=set)

    def response(self) -> Response:
        multi = bool(self.errors) or self.force_multi_status
        body: dict[str, Any] = {"status": "COMPLETE", "results": self.results}
        if multi:
            body["numErrors"] = len(self.errors)
            body["errors"] = self.errors
        body["startedAt"] = self.started_at
        body["completedAt"] = now_iso()
        return Response(207 if multi else self.success_status, body)
