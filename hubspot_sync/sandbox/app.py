"""The sandbox as a function from request to response, with no sockets in sight."""

import hmac
import logging
import threading
from dataclasses import asdict, replace
from typing import Any

from hubspot_sync.sandbox import control, imports
from hubspot_sync.sandbox.batch import BatchOutcome
from hubspot_sync.sandbox.errors import ApiError, bad_request
from hubspot_sync.sandbox.messages import Context, Request, Response
from hubspot_sync.sandbox.profiles import Profile, find_profile
from hubspot_sync.sandbox.quirks import (
    DEFAULT_HOLD_SECONDS,
    QuirkConfig,
    QuirkOptions,
    QuirkSet,
)
from hubspot_sync.sandbox.ratelimit import Limits, RateLimiter, SearchLimiter
from hubspot_sync.sandbox.routes import call, find_route, is_search
from hubspot_sync.sandbox.store import Store
from hubspot_sync.sandbox.webhooks import Webhooks
from hubspot_sync.sandbox.webhooks import validate as validate_webhooks

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105  (a fixed token for a loopback-only server)
PORTAL_ID = 1234567
CONTROL_PREFIX = "/_sandbox/"
MAX_HOLD_SECONDS = 3600
# api-facts §9: the body HubSpot sends for a missing or wrong token.
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication "
    "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
_LIMIT_KEYS = {
    "max": "max_requests",
    "interval_ms": "interval_ms",
    "daily": "daily",
    "retry_after": "retry_after",
    "search_per_second": "search_per_second",
}


class SandboxApp:
    def __init__(
        self,
        store: Store,
        *,
        token: str = DEFAULT_TOKEN,
        quirks: QuirkConfig | None = None,
        limits: Limits | None = None,
        seed: int = 0,
        portal_id: int = PORTAL_ID,
        hold_seconds: float | None = None,
        profile: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        webhook_own_changes: bool = False,
    ) -> None:
        self.store = store
        self.token = token
        self.portal_id = portal_id
        self.profile: Profile | None = find_profile(profile) if profile else None
        config = {**(self.profile.quirks if self.profile else {}), **(quirks or {})}
        hold = _hold(hold_seconds, self.profile)
        self.quirks = QuirkSet(config, seed, QuirkOptions(hold))
        if limits is None and self.profile:
            limits = Limits(self.profile.rate_limit, self.profile.interval_ms)
        limits = limits or Limits()
        self.limiter = RateLimiter(limits)
        self.search_limiter = SearchLimiter(limits.for_search())
        self._released = threading.Event()
        self.webhooks = Webhooks(portal_id)
        if webhook_url is not None:
            self.webhooks.configure(webhook_url, webhook_secret, webhook_own_changes)
        store.observer = self.webhooks

    def handle(self, request: Request) -> Response:
        control_call = request.path.startswith(CONTROL_PREFIX)
        edge = None if control_call else self.quirks.arrive(request)
        if edge is not None:
            # The edge in front of HubSpot answered: no HubSpot headers, nothing counted.
            return edge
        response = self._answer(request)
        response.headers["X-HubSpot-Correlation-Id"] = request.correlation_id
        if response.hold_seconds:
            self._released.wait(response.hold_seconds)
        return response

    def release(self) -> None:
        """Send every held answer now and hold no more (the server is stopping)."""
        self._released.set()

    def _answer(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._unauthorised(request)
        if request.path.startswith(CONTROL_PREFIX):
            response = self._guarded(request, self._control)
            response.headers.update(self.limiter.headers())
            return response
        limiter = (
            self.search_limiter
            if is_search(request.method, request.path)
            else self.limiter
        )
        refusal, headers = limiter.acquire(request.correlation_id)
        response = refusal or self._guarded(request, self._serve)
        response.headers.update(headers)
        return response

    def _authorised(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.token.encode()
        )

    def _unauthorised(self, request: Request) -> Response:
        error = ApiError(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE)
        headers = {
            "X-HubSpot-Auth-Failure": "401 Unauthorized",
            **self.limiter.headers(),
        }
        return Response(401, error.body(request.correlation_id), headers)

    def _guarded(self, request: Request, serve: Any) -> Response:
        try:
            return serve(request)
        except ApiError as error:
            return Response(error.status, error.body(request.correlation_id))
        except Exception:
            logger.exception("Sandbox failed on %s %s", request.method, request.path)
            error = ApiError(
                500,
                "INTERNAL_ERROR",
                "The sandbox failed on this request; see its log.",
            )
            return Response(500, error.body(request.correlation_id))

    def _serve(self, request: Request) -> Response:
        route, params = find_route(request.method, request.path)
        quirks = self.quirks  # one set for the whole request, even if reconfigured
        ctx = Context(request, self.store, quirks, self.portal_id, route.operation)
        # Imports move on with time; any call may be the first to see it.
        imports.advance(ctx)
        answer = quirks.before(ctx) or call(route.handler, ctx, params)
        if isinstance(answer, BatchOutcome):
            quirks.shape(answer)
            answer = answer.response()
        quirks.after(ctx, answer)
        return answer

    # Control endpoints, for tests and operators

    def _control(self, request: Request) -> Response:
        action = request.path.removeprefix(CONTROL_PREFIX)
        if (request.method, action) == ("POST", "reset"):
            self.reset()
        elif (request.method, action) == ("POST", "config"):
            self._configure_from(request.json())
        elif (request.method, action) != ("GET", "config"):
            handler, params = control.find(request.method, action)
            ctx = Context(request, self.store, self.quirks, self.portal_id, "control")
            return handler(ctx, **params)
        return Response(200, self.describe())

    def _configure_from(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise bad_request("Invalid input JSON: expected an object")
        unknown = set(body) - {
            "quirks",
            "rate_limit",
            "seed",
            "hold_seconds",
            "profile",
            "webhooks",
        }
        if unknown:
            raise bad_request(f"Unknown config keys {sorted(unknown)}")
        webhooks = self._webhook_args(body["webhooks"]) if "webhooks" in body else ()
        try:
            self.configure(
                quirks=body.get("quirks"),
                rate_limit=body.get("rate_limit"),
                seed=body.get("seed"),
                hold_seconds=body.get("hold_seconds"),
                profile=body.get("profile"),
            )
        except (TypeError, ValueError) as error:
            raise bad_request(str(error)) from None
        if webhooks:
            self.webhooks.configure(*webhooks)

    def _webhook_args(self, config: Any) -> tuple:
        """``{"url", "secret", "own_changes"?}`` delivers to url; ``null`` stops.

        Checked before anything changes, like the rest of a config call.
        """
        if config is None:
            return (None,)
        if not isinstance(config, dict) or set(config) - {
            "url",
            "secret",
            "own_changes",
        }:
            raise bad_request(
                "Invalid input JSON: `webhooks` is null or {url, secret, own_changes}"
            )
        args = (
            config.get("url"),
            config.get("secret"),
            config.get("own_changes", False),
        )
        try:
            validate_webhooks(*args)
        except ValueError as error:
            raise bad_request(str(error)) from None
        return args

    def configure(
        self,
        *,
        quirks: QuirkConfig | None = None,
        rate_limit: dict[str, Any] | None = None,
        seed: int | None = None,
        hold_seconds: float | None = None,
        profile: str | None = None,
    ) -> None:
        """Change quirks, hold time or rate limits, resetting the counts.

        A ``profile`` brings its quirks, hold time and rate limit; ``quirks``
        and the other arguments given with it override the profile's. Quirks
        given without a profile replace the set, and the profile with it.
        """
        chosen = find_profile(profile) if profile is not None else None
        if chosen is not None:
            quirks = {**chosen.quirks, **(quirks or {})}
            hold_seconds = chosen.hold_seconds if hold_seconds is None else hold_seconds
            rate_limit = {
                "max": chosen.rate_limit,
                "interval_ms": chosen.interval_ms,
                **(rate_limit or {}),
            }
        # Everything is checked before anything changes.
        limits = (
            None if rate_limit is None else _limits(self.limiter.limits, rate_limit)
        )
        if seed is not None or quirks is not None or hold_seconds is not None:
            self._rebuild_quirks(quirks, seed, hold_seconds)
            if quirks is not None:
                self.profile = chosen
        if limits is not None:
            self.limiter.configure(limits)
            self.search_limiter.configure(limits.for_search())

    def _rebuild_quirks(
        self, quirks: QuirkConfig | None, seed: int | None, hold: float | None
    ) -> None:
        current = self.quirks
        options = current.options if hold is None else QuirkOptions(_check_hold(hold))
        self.quirks = QuirkSet(
            current.describe() if quirks is None else quirks,
            current.seed if seed is None else int(seed),
            options,
        )

    def reset(self) -> None:
        self.store.reset()
        self.limiter.configure(self.limiter.limits)
        self.search_limiter.configure(self.search_limiter.limits)

    def describe(self) -> dict[str, Any]:
        limits = asdict(self.limiter.limits)
        return {
            "profile": self.profile.name if self.profile else None,
            "quirks": self.quirks.describe(),
            "seed": self.quirks.seed,
            "hold_seconds": self.quirks.options.hold_seconds,
            "rate_limit": {key: limits[field] for key, field in _LIMIT_KEYS.items()},
            "portal_id": self.portal_id,
            "webhooks": self.webhooks.describe(),
        }


def _hold(hold_seconds: float | None, profile: Profile | None) -> float:
    if hold_seconds is not None:
        return _check_hold(hold_seconds)
    return profile.hold_seconds if profile else DEFAULT_HOLD_SECONDS


def _check_hold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"hold_seconds must be a number, got {value!r}")
    if not 0 < value <= MAX_HOLD_SECONDS:
        raise ValueError(
            f"hold_seconds must be in (0, {MAX_HOLD_SECONDS}], got {value}"
        )
    return float(value)


def _limits(current: Limits, changes: dict[str, Any]) -> Limits:
    unknown = set(changes) - set(_LIMIT_KEYS)
    if unknown:
        raise ValueError(
            f"unknown rate_limit keys {sorted(unknown)}; known: {sorted(_LIMIT_KEYS)}"
        )
    values = {_LIMIT_KEYS[key]: value for key, value in changes.items()}
    for key, value in values.items():
        if key != "retry_after" and (not isinstance(value, int) or value < 0):
            raise ValueError(f"rate_limit {key} must be a whole number >= 0")
    return replace(current, **values)
