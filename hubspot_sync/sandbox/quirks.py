"""Switchable misbehaviours, each named after the HubSpot behaviour it reproduces.

All are off by default. A quirk is a small class with up to four hooks, called
in this order on each request:

- ``arrive(request)`` may answer before anything else happens, as the edge in
  front of HubSpot would: before authentication, rate limits and routing;
- ``before(ctx)`` may answer instead of the endpoint, or change how the
  endpoint behaves through the ``Context`` fields (``per_input_errors``, …);
- ``shape(outcome)`` may reshape a batch answer after the write;
- ``after(ctx, response)`` may change the answer on its way out (hold it).

Adding one means writing a class and decorating it with ``@register``; the
command line, the constructor and ``/_sandbox/config`` pick it up.

A quirk's value means what the quirk says: for most, the chance that it acts
on a request it applies to; for ``drop_result`` the share of results it leaves
out; for ``search_lag`` seconds; ``no_unique_line_items`` is on or off.
"""

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from hubspot_sync.sandbox.batch import BatchOutcome
from hubspot_sync.sandbox.messages import Context, Request, Response
from hubspot_sync.sandbox.routes import WRITES

QuirkConfig = Mapping[str, float | bool | None]

REGISTRY: dict[str, type["Quirk"]] = {}

# Longer than Tally's default HubSpot client timeout (HUBSPOT_TIMEOUT, 30 s).
DEFAULT_HOLD_SECONDS = 35.0


@dataclass(frozen=True)
class QuirkOptions:
    """Settings some quirks share, beyond their own value."""

    hold_seconds: float = DEFAULT_HOLD_SECONDS


class Quirk:
    name: ClassVar[str]
    reproduces: ClassVar[str]
    source: ClassVar[str]
    default_rate: ClassVar[float] = 1.0

    def __init__(self, rate: float, rng: random.Random, options: QuirkOptions) -> None:
        self.rate = rate
        self.rng = rng
        self.options = options

    @classmethod
    def check(cls, value: float) -> float:
        """Return the value to use, or raise ValueError when it makes no sense."""
        if not 0 < value <= 1:
            raise ValueError(f"quirk {cls.name}: rate must be in (0, 1], got {value}")
        return value

    def fires(self) -> bool:
        return self.rate >= 1 or self.rng.random() < self.rate

    def arrive(self, request: Request) -> Response | None:
        return None

    def before(self, ctx: Context) -> Response | None:
        return None

    def shape(self, outcome: BatchOutcome) -> None:
        return None

    def after(self, ctx: Context, response: Response) -> None:
        return None


def register(cls: type[Quirk]) -> type[Quirk]:
    REGISTRY[cls.name] = cls
    return cls


def _leave_out(
    errors: list[dict[str, Any]], skip: Callable[[str], bool]
) -> list[dict[str, Any]]:
    """The errors without the OBJECT_NOT_FOUND IDs that ``skip`` picks.

    An item left with no IDs goes; one listing several keeps the others.
    """
    kept = []
    for error in errors:
        if error["category"] != "OBJECT_NOT_FOUND":
            kept.append(error)
            continue
        ids = [i for i in error["context"].get("ids", []) if not skip(i)]
        if ids:
            kept.append({**error, "context": {**error["context"], "ids": ids}})
    return kept


@register
class SilentSkipUpdate(Quirk):
    name = "silent_skip_update"
    reproduces = (
        "batch update answers 200 and names unknown or merged-away IDs neither in "
        "results nor in errors"
    )
    source = (
        "api-facts §2.1 (rudder-transformer fixture: merged-away ID left out of a 200), "
        "§2.3, open question 2"
    )
    multi_status = False

    def _skips(self, outcome: BatchOutcome) -> Callable[[str], bool]:
        return lambda object_id: True

    def shape(self, outcome: BatchOutcome) -> None:
        if outcome.operation != "update":
            return
        kept = _leave_out(outcome.errors, self._skips(outcome))
        if kept == outcome.errors or not self.fires():
            return
        outcome.errors = kept
        outcome.force_multi_status = outcome.force_multi_status or self.multi_status


@register
class SilentSkipUpdate207(SilentSkipUpdate):
    name = "silent_skip_update_207"
    reproduces = "batch update answers 207 with 0 errors and names unknown or merged-away IDs nowhere"
    source = "api-facts §2.1 (HubSpot Community thread via eshopman.com: 207, 0 errors, empty results)"
    multi_status = True


@register
class SilentSkipMerged(SilentSkipUpdate):
    name = "silent_skip_merged"
    reproduces = (
        "batch update leaves merged-away IDs out of a 200 without an error, "
        "while unknown IDs are still reported as OBJECT_NOT_FOUND"
    )
    source = (
        "api-facts §2.1 item 2 and §2.3 (rudder-transformer fixtures: OBJECT_NOT_FOUND "
        "for a missing record, silence for a merged-away one); D-OBJ"
    )

    def _skips(self, outcome: BatchOutcome) -> Callable[[str], bool]:
        return lambda object_id: object_id in outcome.merged_away


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
        # Each result is left out with probability `rate`, so that a low rate
        # is rare, as HubSpot's silent skips are, and the picks repeat by seed.
        outcome.results = [r for r in results if self.rng.random() >= self.rate]


@register
class RejectWholeBatch(Quirk):
    name = "reject_whole_batch"
    reproduces = (
        "one invalid input makes a create, update or upsert batch answer 400 for all "
        "of it, even when every input carries an objectWriteTraceId"
    )
    source = (
        "api-facts §1.3 (207 documented for traced batch create only; update and "
        "upsert unverified), open question 1"
    )

    def before(self, ctx: Context) -> Response | None:
        if ctx.operation in ("create", "update", "upsert") and self.fires():
            ctx.per_input_errors = False
        return None


_HTML = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
}


@register
class Html5xx(Quirk):
    name = "html_5xx"
    reproduces = "a 502 or 503 from the edge in front of HubSpot, with an HTML body, nothing done"
    source = 'api-facts §3 (D-ERR lists 502/504 "pause a few seconds, retry" and 503)'
    default_rate = 0.01

    def arrive(self, request: Request) -> Response | None:
        if not self.fires():
            return None
        status = self.rng.choice(sorted(_HTML))
        title = _HTML[status]
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
        )
        return Response(status, raw=page.encode(), content_type="text/html")


@register
class ConnectionReset(Quirk):
    name = "connection_reset"
    reproduces = "the connection is reset before any answer, and nothing is done"
    source = (
        "sandbox fault injection: no source describes resets; api-facts §3 (D-ERR "
        "lists the edge failures 502-504 and 521-526 a client must retry)"
    )
    default_rate = 0.01

    def arrive(self, request: Request) -> Response | None:
        return Response(0, reset=True) if self.fires() else None


@register
class TimeoutAfterWrite(Quirk):
    name = "timeout_after_write"
    reproduces = (
        "a write is applied, then its answer is held for hold_seconds, longer than a "
        "client waits, so the client times out on a write that happened"
    )
    source = (
        "api-facts §3 (D-ERR: 524 when a response is not received within 100 "
        "seconds); that the write is applied is unverified, the case a client must survive"
    )
    default_rate = 0.01

    def after(self, ctx: Context, response: Response) -> None:
        if ctx.operation in WRITES and response.status < 300 and self.fires():
            response.hold_seconds = self.options.hold_seconds


@register
class AssociationEmpty(Quirk):
    name = "association_empty"
    reproduces = "a v4 association batch create answers 201 COMPLETE with empty results and links nothing"
    source = (
        "api-facts §2.1 item 3 (rudder-transformer silentFailure: 2xx with empty "
        "results and errors), §5 (v4 batch create)"
    )

    def before(self, ctx: Context) -> Response | None:
        if ctx.operation == "associate" and self.fires():
            ctx.link_associations = False
        return None


@register
class SearchLag(Quirk):
    name = "search_lag"
    reproduces = (
        "search does not see a record until this many seconds after it was written"
    )
    source = "api-facts §8 (D-SEARCH: new or updated records may take a few moments to appear)"
    default_rate = 3.0

    @classmethod
    def check(cls, value: float) -> float:
        if not 0 < value <= 3600:
            raise ValueError(
                f"quirk {cls.name}: seconds must be in (0, 3600], got {value}"
            )
        return value

    def before(self, ctx: Context) -> Response | None:
        if ctx.operation == "search":
            ctx.search_lag_ms = round(self.rate * 1000)
        return None


@register
class NoUniqueLineItems(Quirk):
    name = "no_unique_line_items"
    reproduces = (
        "a portal that will not make line-item properties unique: the property is "
        "created with hasUniqueValue false, so upserts by it fail as non-unique"
    )
    source = "api-facts open question 19; §1.4 (the non-unique 400)"

    @classmethod
    def check(cls, value: float) -> float:
        if value != 1:
            raise ValueError(f"quirk {cls.name} is on or off, not a rate ({value})")
        return value

    def before(self, ctx: Context) -> Response | None:
        if ctx.operation == "create_property":
            ctx.unique_line_items = False
        return None


def _name(quirk: Quirk) -> str:
    return quirk.name


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
    """The quirks switched on, with one seeded random source each.

    They run in the order they were registered, whatever order the config
    names them in, so a seed gives the same picks either way.
    """

    def __init__(
        self,
        config: QuirkConfig | None = None,
        seed: int = 0,
        options: QuirkOptions | None = None,
    ) -> None:
        self.seed = seed
        self.options = options or QuirkOptions()
        self._lock = threading.Lock()
        chosen = {
            name: rate
            for name, rate in (config or {}).items()
            if rate not in (False, 0)
        }
        unknown = sorted(set(chosen) - set(REGISTRY))
        if unknown:
            raise ValueError(
                f"unknown quirk {unknown[0]!r}; known: {', '.join(sorted(REGISTRY))}"
            )
        self._quirks = [
            self._build(name, chosen[name]) for name in REGISTRY if name in chosen
        ]

    def _build(self, name: str, rate: float | bool | None) -> Quirk:
        cls = REGISTRY[name]
        value = cls.default_rate if rate is None or rate is True else float(rate)
        # Python seeds a Random from a string deterministically.
        rng = random.Random(f"{self.seed}:{name}")  # noqa: S311
        return cls(cls.check(value), rng, self.options)

    def describe(self) -> dict[str, float]:
        return {quirk.name: quirk.rate for quirk in sorted(self._quirks, key=_name)}

    def arrive(self, request: Request) -> Response | None:
        with self._lock:
            for quirk in self._quirks:
                response = quirk.arrive(request)
                if response is not None:
                    return response
        return None

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

    def after(self, ctx: Context, response: Response) -> None:
        with self._lock:
            for quirk in self._quirks:
                quirk.after(ctx, response)
