"""Switchable misbehaviours, each named after the HubSpot behaviour it reproduces.

All are off by default. A quirk is a small class with up to two hooks: ``before``
may answer a request instead of the endpoint, and ``shape`` may reshape a batch
answer after the write. Adding one means writing a class and decorating it with
``@register``; the command line, the constructor and ``/_sandbox/config`` pick it up.

A quirk's rate means what the quirk says: for most, the chance that it acts on
a request; for ``drop_result``, the share of results it leaves out.
"""

import random
import threading
from collections.abc import Mapping
from typing import ClassVar

from hubspot_sync.sandbox.batch import BatchOutcome
from hubspot_sync.sandbox.messages import Context, Response

QuirkConfig = Mapping[str, float | bool | None]

REGISTRY: dict[str, type["Quirk"]] = {}


class Quirk:
    name: ClassVar[str]
    reproduces: ClassVar[str]
    source: ClassVar[str]
    default_rate: ClassVar[float] = 1.0

    def __init__(self, rate: float, rng: random.Random) -> None:
        self.rate = rate
        self.rng = rng

    def fires(self) -> bool:
        return self.rate >= 1 or self.rng.random() < self.rate

    def before(self, ctx: Context) -> Response | None:
        return None

    def shape(self, outcome: BatchOutcome) -> None:
        return None


def register(cls: type[Quirk]) -> type[Quirk]:
    REGISTRY[cls.name] = cls
    return cls


@register
class SilentSkipUpdate(Quirk):
    name = "silent_skip_update"
    reproduces = "batch update answers 200 and names unknown IDs neither in results nor in errors"
    source = (
        "api-facts §2.1 (rudder-transformer fixture: merged-away ID left out of a 200)"
    )
    multi_status = False

    def shape(self, outcome: BatchOutcome) -> None:
        if outcome.operation != "update" or not self.fires():
            return
        kept = [e for e in outcome.errors if e["category"] != "OBJECT_NOT_FOUND"]
        skipped = len(kept) < len(outcome.errors)
        outcome.errors = kept
        outcome.force_multi_status = outcome.force_multi_status or (
            skipped and self.multi_status
        )


@register
class SilentSkipUpdate207(SilentSkipUpdate):
    name = "silent_skip_update_207"
    reproduces = "batch update answers 207 with 0 errors and names unknown IDs nowhere"
    source = "api-facts §2.1 (HubSpot Community thread via eshopman.com: 207, 0 errors, empty results)"
    multi_status = True


@register
class DropResult(Quirk):
    name = "drop_result"
    reproduces = "a write batch applies every input but leaves some out of `results`, without an error"
    source = "api-facts §2.1 (rudder-transformer silentFailure fixtures), design rule 1"
    default_rate = 0.01
    operations = ("create", "update", "upsert")

    def shape(self, outcome: BatchOutcome) -> None:
        results = outcome.results
        if outcome.operation not in self.operations or not results:
            return
        # At least one per batch, so that a small rate still shows on every write.
        count = min(len(results), max(1, round(self.rate * len(results))))
        dropped = set(self.rng.sample(range(len(results)), count))
        outcome.results = [r for i, r in enumerate(results) if i not in dropped]


def parse_quirk(text: str) -> tuple[str, float | None]:
    """Read ``NAME`` or ``NAME=RATE`` as given on the command line."""
    name, _, rate = text.partition("=")
    if not rate:
        return name.strip(), None
    try:
        return name.strip(), float(rate)
    except ValueError:
        raise ValueError(f"quirk rate must be a number, got {rate!r}") from None


class QuirkSet:
    """The quirks switched on, with one seeded random source each."""

    def __init__(self, config: QuirkConfig | None = None, seed: int = 0) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._quirks = [
            self._build(name, rate)
            for name, rate in (config or {}).items()
            if rate not in (False, 0)
        ]

    def _build(self, name: str, rate: float | bool | None) -> Quirk:
        cls = REGISTRY.get(name)
        if cls is None:
            raise ValueError(
                f"unknown quirk {name!r}; known: {', '.join(sorted(REGISTRY))}"
            )
        value = cls.default_rate if rate is None or rate is True else float(rate)
        if not 0 < value <= 1:
            raise ValueError(f"quirk {name}: rate must be in (0, 1], got {value}")
        # Python seeds a Random from a string deterministically.
        return cls(value, random.Random(f"{self.seed}:{name}"))  # noqa: S311

    def describe(self) -> dict[str, float]:
        return {quirk.name: quirk.rate for quirk in self._quirks}

    def before(self, ctx: Context) -> Response | None:
        with self._lock:
            for quirk in self._quirks:
                response = quirk.before(ctx)
                if response is not None:
                    return response
        return None

    def shape(self, outcome: BatchOutcome) -> None:
        with self._lock:
            for quirk in self._quirks:
                quirk.shape(outcome)
