"""The sandbox as a function from request to response, with no sockets in sight."""

import hmac
import logging
from dataclasses import asdict, replace
from typing import Any

from hubspot_sync.sandbox.batch import BatchOutcome
from hubspot_sync.sandbox.errors import ApiError, bad_request
from hubspot_sync.sandbox.messages import Context, Request, Response
from hubspot_sync.sandbox.quirks import QuirkConfig, QuirkSet
from hubspot_sync.sandbox.ratelimit import Limits, RateLimiter
from hubspot_sync.sandbox.routes import call, find_route
from hubspot_sync.sandbox.store import Store

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105  (a fixed token for a loopback-only server)
PORTAL_ID = 1234567
CONTROL_PREFIX = "/_sandbox/"
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
    ) -> None:
        self.store = store
        self.token = token
        self.portal_id = portal_id
        self.quirks = QuirkSet(quirks, seed)
        self.limiter = RateLimiter(limits or Limits())

    def handle(self, request: Request) -> Response:
        response = self._answer(request)
        response.headers["X-HubSpot-Correlation-Id"] = request.correlation_id
        return response

    def _answer(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._unauthorised(request)
        if request.path.startswith(CONTROL_PREFIX):
            response = self._guarded(request, self._control)
            response.headers.update(self.limiter.headers())
            return response
        refusal, headers = self.limiter.acquire(request.correlation_id)
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
        ctx = Context(request, self.store, self.quirks, self.portal_id)
        handler, params = find_route(request.method, request.path)
        answer = ctx.quirks.before(ctx) or call(handler, ctx, params)
        if isinstance(answer, BatchOutcome):
            ctx.quirks.shape(answer)
            return answer.response()
        return answer

    # Control endpoints, for tests and operators

    def _control(self, request: Request) -> Response:
        action = request.path.removeprefix(CONTROL_PREFIX)
        if (request.method, action) == ("POST", "reset"):
            self.reset()
        elif (request.method, action) == ("POST", "config"):
            self._configure_from(request.json())
        elif (request.method, action) != ("GET", "config"):
            raise ApiError(
                404,
                "OBJECT_NOT_FOUND",
                f"The sandbox has no endpoint {request.method} {request.path}",
            )
        return Response(200, self.describe())

    def _configure_from(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise bad_request("Invalid input JSON: expected an object")
        try:
            self.configure(
                quirks=body.get("quirks"),
                rate_limit=body.get("rate_limit"),
                seed=body.get("seed"),
            )
        except (TypeError, ValueError) as error:
            raise bad_request(str(error)) from None

    def configure(
        self,
        *,
        quirks: QuirkConfig | None = None,
        rate_limit: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        """Replace the quirks (when given) and change rate-limit settings, resetting the counts."""
        if seed is not None or quirks is not None:
            config = self.quirks.describe() if quirks is None else quirks
            self.quirks = QuirkSet(
                config, self.quirks.seed if seed is None else int(seed)
            )
        if rate_limit is not None:
            self.limiter.configure(_limits(self.limiter.limits, rate_limit))

    def reset(self) -> None:
        self.store.reset()
        self.limiter.configure(self.limiter.limits)

    def describe(self) -> dict[str, Any]:
        limits = asdict(self.limiter.limits)
        return {
            "quirks": self.quirks.describe(),
            "seed": self.quirks.seed,
            "rate_limit": {key: limits[field] for key, field in _LIMIT_KEYS.items()},
            "portal_id": self.portal_id,
        }


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
