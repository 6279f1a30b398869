"""Time as HubSpot writes it: epoch milliseconds stored, ISO-8601 with ms and Z shown."""

import time
from datetime import UTC, datetime
from functools import lru_cache


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# A batch stamps every record with the same few milliseconds.
@lru_cache(maxsize=4096)
def iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def now_iso() -> str:
    return iso(now_ms())
