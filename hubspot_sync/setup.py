"""Creates, idempotently, the custom properties Tally needs in HubSpot."""

import logging
from dataclasses import dataclass

from django.core.cache import cache

from hubspot_sync.client import HubSpotClient, HubSpotError
from hubspot_sync.properties import CUSTOM_PROPERTIES

logger = logging.getLogger(__name__)

SETUP_CHECK_SECONDS = 3600


class SetupError(Exception):
    pass


@dataclass
class SetupReport:
    created: list[str]
    existing: list[str]


def ensure_properties_once(client: HubSpotClient) -> None:
    """ensure_properties, at most once an hour per worker process and portal.

    Properties are created once per portal and rarely change: checking them on
    every run would cost HubSpot calls and, when HubSpot is flaky, whole runs.
    """
    key = f"tally:hubspot-setup:{client.base_url}"
    if cache.get(key):
        return
    ensure_properties(client)
    cache.set(key, True, timeout=SETUP_CHECK_SECONDS)


def ensure_properties(client: HubSpotClient) -> SetupReport:
    """Create each missing property; check the store keys are unique-valued.

    Raises SetupError when a store-key property exists without a unique
    value, since upserts on it would then be refused.
    """
    report = SetupReport(created=[], existing=[])
    for definition in CUSTOM_PROPERTIES:
        label = f"{definition.object_type}.{definition.name}"
        current = client.get_property(definition.object_type, definition.name)
        if current is None:
            current = _create(client, definition)
            report.created.append(label)
            logger.info("Created HubSpot property %s", label)
        else:
            report.existing.append(label)
        if definition.unique and not current.get("hasUniqueValue"):
            raise SetupError(
                f"HubSpot property {label} exists but is not unique-valued; "
                "Tally needs it unique to upsert without duplicates."
            )
    return report


def _create(client: HubSpotClient, definition) -> dict:
    try:
        return client.create_property(definition.object_type, definition.as_request())
    except HubSpotError as exc:
        if exc.status != 409:
            raise
    # An earlier attempt whose answer was lost created it after all.
    return client.get_property(definition.object_type, definition.name) or {}
