"""Named mixes of quirks and limits: HubSpot on an ordinary day, for demos and soak runs."""

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    quirks: Mapping[str, float]
    hold_seconds: float
    rate_limit: int
    interval_ms: int


# Each rate is low enough that a run mostly succeeds and high enough that a run
# of a few thousand calls meets every quirk. Sources are in docs/sandbox.md.
REALISTIC = Profile(
    name="realistic",
    quirks={
        "drop_result": 0.002,
        # The one report on merged-away IDs says they are always left out silently.
        "silent_skip_merged": 1.0,
        # Unknown IDs are reported, but both silent answers have been seen too.
        "silent_skip_update": 0.05,
        "silent_skip_update_207": 0.05,
        "html_5xx": 0.003,
        "connection_reset": 0.002,
        "timeout_after_write": 0.002,
        "association_empty": 0.005,
        "search_lag": 3.0,
    },
    hold_seconds=35.0,  # longer than Tally's default 30 s client timeout
    rate_limit=190,  # Professional and Enterprise apps (api-facts §4)
    interval_ms=10_000,
)

PROFILES = {profile.name: profile for profile in (REALISTIC,)}


def find_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}"
        ) from None
