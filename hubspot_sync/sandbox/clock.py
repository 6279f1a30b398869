"""Time as HubSpot writes it: epoch milliseconds stored, ISO-8601 with ms and Z shown.

All the sandbox's time goes through ``CLOCK``, so that a test can stop it and
move it on (search lag, the rate limits) instead of sleeping. It is one clock
per process, shared by every sandbox in it.
"""

import threading
import time
from datetime import UTC, datetime
from functools import lru_cache


class Clock:
    """The wall clock and a monotonic one, both of which tests may freeze and advance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset_ns = 0
        self._frozen: tuple[int, int] | None = None  # (wall ns, monotonic ns)

    def time_ns(self) -> int:
        with self._lock:
            if self._frozen is not None:
                return self._frozen[0] + self._offset_ns
        return time.time_ns() + self._offset_ns

    def monotonic(self) -> float:
        with self._lock:
            if self._frozen is not None:
                return (self._frozen[1] + self._offset_ns) / 1e9
        return (time.monotonic_ns() + self._offset_ns) / 1e9

    def freeze(self) -> None:
        """Stop time where it is; only ``advance`` moves it from now on."""
        with self._lock:
            self._frozen = (time.time_ns(), time.monotonic_ns())

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset_ns += int(seconds * 1e9)

    def restore(self) -> None:
        """Back to real time."""
        with self._lock:
            self._frozen = None
            self._offset_ns = 0


CLOCK = Clock()


def now_ms() -> int:
    return CLOCK.time_ns() // 1_000_000


# A batch stamps every record with the same few milliseconds.
@lru_cache(maxsize=4096)
def iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def now_iso() -> str:
    return iso(now_ms())
