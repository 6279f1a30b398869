"""The baseline: what a user might write instead of Tally, on HubSpot's official client.

    python -m bench.plain_push PAYLOAD.json URL

Creates the custom properties, upserts the deals and then the line items 100
at a time on their unique key properties, and links each line item to its
deal with the v4 batch association API, 2,000 pairs a call. No bookkeeping:
it keeps only the IDs the links need. Rate limits and server errors are
retried inside the client by urllib3's ``Retry``, as the client's README
shows, with POST allowed (urllib3 retries no POST by default, and every call
here is a POST) and exponential backoff. Prints one JSON line.
"""

import json
import sys
import time
from collections import Counter
from pathlib import Path

from hubspot import HubSpot
from hubspot.crm import deals, line_items, properties
from hubspot.crm.associations import v4
from urllib3.util.retry import Retry

TOKEN = "sandbox-token"
BATCH = 100
ASSOCIATION_BATCH = 2000
LINE_ITEM_TO_DEAL = 20
CUSTOM_PROPERTIES = [
    ("deals", "tally_order_key", True),
    ("deals", "tally_order_kind", False),
    ("deals", "tally_customer_id", False),
    ("deals", "tally_country", False),
    ("deals", "tally_fingerprint", False),
    ("line_items", "tally_line_key", True),
    ("line_items", "tally_line_kind", False),
    ("line_items", "tally_fingerprint", False),
]
GROUPS = {"deals": "dealinformation", "line_items": "lineiteminformation"}


class CountingRetry(Retry):
    """urllib3's Retry, counting the answers it retried and the time it slept."""

    retried: Counter = Counter()
    slept = 0.0

    def increment(self, method=None, url=None, response=None, error=None, **kwargs):
        answer = response.status if response is not None else type(error).__name__
        CountingRetry.retried[str(answer)] += 1
        return super().increment(method, url, response, error, **kwargs)

    def sleep(self, response=None) -> None:
        started = time.perf_counter()
        super().sleep(response)
        CountingRetry.slept += time.perf_counter() - started


def retry() -> Retry:
    return CountingRetry(
        total=10,
        backoff_factor=0.5,  # 0, 1, 2, 4, 8, 10, 10 ... seconds
        backoff_max=10,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,  # any method, POST included
        respect_retry_after_header=True,
    )


def create_properties(client) -> int:
    api = client.crm.properties.core_api
    for object_type, name, unique in CUSTOM_PROPERTIES:
        definition = properties.PropertyCreate(
            name=name,
            label=name.replace("_", " "),
            type="string",
            field_type="text",
            group_name=GROUPS[object_type],
            has_unique_value=unique,
        )
        api.create(object_type, definition)
    return len(CUSTOM_PROPERTIES)


def upsert(api, package, records: list[dict], key: str) -> tuple[dict, int]:
    """Upsert the records; return {store key: HubSpot ID} and the calls made."""
    ids, calls = {}, 0
    for start in range(0, len(records), BATCH):
        inputs = [
            package.SimplePublicObjectBatchInputUpsert(
                id=record["key"], id_property=key, properties=record["properties"]
            )
            for record in records[start : start + BATCH]
        ]
        answer = api.upsert(
            package.BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
        )
        calls += 1
        for result in answer.results:
            ids[result.properties[key]] = result.id
    return ids, calls


def associate(api, pairs: list[tuple[str, str]]) -> tuple[int, int]:
    """Link line items to deals; return the links confirmed and the calls made."""
    linked, calls = 0, 0
    spec = v4.AssociationSpec(
        association_category="HUBSPOT_DEFINED", association_type_id=LINE_ITEM_TO_DEAL
    )
    for start in range(0, len(pairs), ASSOCIATION_BATCH):
        inputs = [
            v4.PublicAssociationMultiPost(
                _from=v4.PublicObjectId(id=line_id),
                to=v4.PublicObjectId(id=deal_id),
                types=[spec],
            )
            for line_id, deal_id in pairs[start : start + ASSOCIATION_BATCH]
        ]
        answer = api.create(
            "line_items",
            "deals",
            v4.BatchInputPublicAssociationMultiPost(inputs=inputs),
        )
        calls += 1
        linked += len(answer.results)
    return linked, calls


def push(payload: dict, url: str) -> dict:
    client = HubSpot(access_token=TOKEN, host=url, retry=retry())
    setup_calls = create_properties(client)
    deal_ids, deal_calls = upsert(
        client.crm.deals.batch_api, deals, payload["deals"], "tally_order_key"
    )
    line_ids, line_calls = upsert(
        client.crm.line_items.batch_api, line_items, payload["lines"], "tally_line_key"
    )
    pairs = [
        (line_ids[line["key"]], deal_ids[line["parent_key"]])
        for line in payload["lines"]
        if line["key"] in line_ids and line["parent_key"] in deal_ids
    ]
    linked, link_calls = associate(client.crm.associations.v4.batch_api, pairs)
    return {
        "deals": len(deal_ids),
        "line_items": len(line_ids),
        "linked": linked,
        "setup_calls": setup_calls,
        "sync_calls": deal_calls + line_calls + link_calls,
    }


def main() -> None:
    payload = json.loads(Path(sys.argv[1]).read_text())
    started = time.perf_counter()
    figures = push(payload, sys.argv[2])
    wall = time.perf_counter() - started
    retried = dict(CountingRetry.retried)
    backoff = CountingRetry.slept
    print(
        json.dumps(
            {
                "wall_seconds": wall,
                "retried": retried,
                "backoff_seconds": backoff,
                **figures,
            }
        )
    )


if __name__ == "__main__":
    main()
