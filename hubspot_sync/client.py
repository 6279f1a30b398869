"""The one place that speaks HTTP to HubSpot.

One ``requests.Session``, a timeout on every call, bounded retries with
backoff for what is worth retrying, and an ``ApiCall`` row for every attempt
(endpoint, status, duration, correlation id, rate-limit headers and both
bodies; never the token). Answers are parsed into the small types below, so
the sync engine never digs through raw dictionaries.
"""

import json
import logging
import random
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests
from django.conf import settings

from hubspot_sync import ratelimit
from hubspot_sync.models import ApiCall

logger = logging.getLogger(__name__)

# HubSpot's largest page for listing objects (api-facts §8), and the most
# records a v4 association batch read takes (§5).
LIST_PAGE = 100
ASSOCIATION_READ_SIZE = 1000
RATE_LIMIT_HEADERS = {
    "X-HubSpot-RateLimit-Max": "max",
    "X-HubSpot-RateLimit-Remaining": "remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "interval_ms",
    "X-HubSpot-RateLimit-Daily": "daily",
    "X-HubSpot-RateLimit-Daily-Remaining": "daily_remaining",
}
REDACTED = "[redacted]"
NEWLINE = b"\n"


def map_text(value, change: Callable[[str], str]):
    """``value`` with ``change`` applied to every string in it, dict keys too.

    Dicts and lists are walked; other values are returned as they are.
    """
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {map_text(k, change): map_text(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [map_text(v, change) for v in value]
    return value


def redact(value, token: str | None = None):
    """``value`` with the HubSpot token replaced wherever it stands in a string.

    HubSpot echoes what people type: a token pasted into a record's field
    would otherwise reach stored outcomes, webhook events and the pages.
    """
    token = settings.HUBSPOT_ACCESS_TOKEN if token is None else token
    if not token:
        return value
    return map_text(value, lambda text: text.replace(token, REDACTED))


class HubSpotError(Exception):
    """A call that did not produce a usable answer.

    ``permanent`` says whether sending the same request again could help.
    ``applied_unknown`` is set when a non-idempotent write may have landed.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        category: str = "",
        errors: list | None = None,
        applied_unknown: bool = False,
        call: ApiCall | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status
        self.category = category
        self.errors = errors or []
        self.applied_unknown = applied_unknown
        self.call = call

    def as_error_item(self) -> "ErrorItem":
        return ErrorItem(self.category, self.message, details=list(self.errors))


@dataclass
class ObjectResult:
    id: str
    properties: dict[str, str | None]
    new: bool | None = None
    trace_id: str = ""
    archived: bool = False
    # Property name -> its versions, newest first (``ValueWithTimestamp``).
    history: dict[str, list[dict]] = field(default_factory=dict)


@dataclass
class SearchPage:
    total: int
    results: list[ObjectResult]
    after: str | None  # the next page's ``after``; None on the last page
    call: ApiCall


@dataclass
class ErrorItem:
    category: str
    message: str
    context: dict[str, list[str]] = field(default_factory=dict)
    details: list[dict] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [str(i) for i in self.context.get("ids", [])]

    @property
    def trace_ids(self) -> list[str]:
        return [str(i) for i in self.context.get("objectWriteTraceId", [])]

    @property
    def code(self) -> str:
        return next((d.get("code", "") for d in self.details if d.get("code")), "")

    @property
    def property_name(self) -> str:
        for detail in self.details:
            names = (detail.get("context") or {}).get("propertyName") or []
            if names:
                return str(names[0])
        return ""

    @property
    def specific_message(self) -> str:
        """The first detailed message, else the general one."""
        for detail in self.details:
            if detail.get("message"):
                return str(detail["message"])
        return self.message

    def as_detail(self) -> dict:
        return {
            "category": self.category,
            "code": self.code,
            "property": self.property_name,
            "message": self.message,
        }


@dataclass
class Multipart:
    """A multipart/form-data body: text fields and files (field, name, content).

    Stored with its call as a short description, never the files themselves.
    """

    fields: dict[str, str]
    files: list[tuple[str, str, bytes]]

    def parts(self) -> list[tuple[str, tuple]]:
        parts: list[tuple[str, tuple]] = [
            (name, (None, value, "application/json"))
            for name, value in self.fields.items()
        ]
        parts += [
            (field_name, (file_name, content, "text/csv"))
            for field_name, file_name, content in self.files
        ]
        return parts

    def describe(self) -> str:
        files = [
            f"{name}: {len(content):,} bytes, {content.count(NEWLINE):,} lines"
            for _, name, content in self.files
        ]
        return json.dumps({"multipart": {**self.fields, "files": files}})


@dataclass
class ImportStatus:
    id: str
    state: str
    counters: dict[str, int]
    call: ApiCall


@dataclass
class ImportRowError:
    error_type: str
    message: str
    line: int | None
    row: list[str]
    invalid_value: str
    property_name: str


@dataclass
class ImportErrorPage:
    errors: list[ImportRowError]
    after: str | None
    call: ApiCall


@dataclass
class AssociationResult:
    from_id: str
    to_id: str


@dataclass
class BatchAnswer:
    http_status: int
    results: list
    errors: list[ErrorItem]
    call: ApiCall


def _parse_error_item(raw: dict) -> ErrorItem:
    return ErrorItem(
        category=str(raw.get("category", "")),
        message=str(raw.get("message", "")),
        context={k: list(v) for k, v in (raw.get("context") or {}).items()},
        details=list(raw.get("errors") or []),
    )


def _parse_object(raw: dict) -> ObjectResult:
    return ObjectResult(
        id=str(raw["id"]),
        properties=dict(raw.get("properties") or {}),
        new=raw.get("new"),
        trace_id=str(raw.get("objectWriteTraceId") or ""),
        archived=bool(raw.get("archived")),
        history={
            name: list(versions or [])
            for name, versions in (raw.get("propertiesWithHistory") or {}).items()
        },
    )


def _next_after(answer: dict) -> str | None:
    """The next page's ``after`` of a paged answer; None on the last page."""
    after = ((answer.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after is not None else None


def _parse_import(raw: dict, call: ApiCall) -> ImportStatus:
    counters = (raw.get("metadata") or {}).get("counters") or {}
    return ImportStatus(
        id=str(raw.get("id", "")),
        state=str(raw.get("state", "")),
        counters={str(k): _int_or_none(v) or 0 for k, v in counters.items()},
        call=call,
    )


def _parse_import_error(raw: dict) -> ImportRowError:
    source = raw.get("sourceData") or {}
    return ImportRowError(
        error_type=str(raw.get("errorType") or "UNKNOWN_ERROR"),
        message=str(raw.get("errorMessage") or ""),
        line=_int_or_none(source.get("lineNumber")),
        row=[str(value) for value in source.get("rowData") or []],
        invalid_value=str(raw.get("invalidValue") or ""),
        property_name=str(raw.get("extraContext") or ""),
    )


def _parse_association(raw: dict) -> AssociationResult:
    return AssociationResult(
        from_id=str(raw["fromObjectId"]), to_id=str(raw["toObjectId"])
    )


class HubSpotClient:
    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = None,
        max_attempts: int | None = None,
        sleep=time.sleep,
        budget: ratelimit.Budget | None = None,
    ) -> None:
        self.base_url = (base_url or settings.HUBSPOT_BASE_URL).rstrip("/")
        self._token = token if token is not None else settings.HUBSPOT_ACCESS_TOKEN
        self.timeout = timeout or settings.HUBSPOT_TIMEOUT
        self.max_attempts = max_attempts or settings.HUBSPOT_MAX_ATTEMPTS
        self._sleep = sleep
        self.budget = budget or ratelimit.make_budget(sleep=sleep)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self._token}"
        self.session.headers["Content-Type"] = "application/json"
        self._run_id: int | None = None
        self._batch_id: int | None = None
        self.attempts = 0  # HTTP attempts made by this client, each one an ApiCall

    def close(self) -> None:
        self.session.close()

    @contextmanager
    def recording(self, run_id: int | None, batch_id: int | None = None):
        """Attach the ApiCall rows made inside the block to a run and batch."""
        previous = self._run_id, self._batch_id
        self._run_id, self._batch_id = run_id, batch_id
        try:
            yield self
        finally:
            self._run_id, self._batch_id = previous

    # Object batch endpoints (one method per endpoint).

    def batch_upsert(self, object_type: str, inputs: list[dict]) -> BatchAnswer:
        answer = self._post(f"/crm/v3/objects/{object_type}/batch/upsert", inputs)
        return self._object_answer(answer)

    def batch_create(self, object_type: str, inputs: list[dict]) -> BatchAnswer:
        # A create is not idempotent: after a timeout it must be looked up,
        # never blindly sent again.
        answer = self._post(
            f"/crm/v3/objects/{object_type}/batch/create", inputs, idempotent=False
        )
        return self._object_answer(answer)

    def batch_update(self, object_type: str, inputs: list[dict]) -> BatchAnswer:
        answer = self._post(f"/crm/v3/objects/{object_type}/batch/update", inputs)
        return self._object_answer(answer)

    def batch_read(
        self,
        object_type: str,
        ids: list[str],
        properties: list[str],
        id_property: str | None = None,
        *,
        history: list[str] | None = None,
        archived: bool = False,
    ) -> BatchAnswer:
        """Read up to 100 records (50 with ``history``, HubSpot's cap for it).

        ``archived=True`` reads only archived records (SPEC's query parameter).
        """
        extra: dict = {"properties": properties, "propertiesWithHistory": history or []}
        if id_property:
            extra["idProperty"] = id_property
        query = "?archived=true" if archived else ""
        answer = self._post(
            f"/crm/v3/objects/{object_type}/batch/read{query}",
            [{"id": i} for i in ids],
            extra=extra,
        )
        return self._object_answer(answer)

    def search(self, object_type: str, body: dict) -> SearchPage:
        """One page of a CRM search (its own 5-a-second budget)."""
        _, answer, call = self._send(
            "POST", f"/crm/v3/objects/{object_type}/search", body
        )
        return SearchPage(
            total=int(answer.get("total") or 0),
            results=[_parse_object(r) for r in answer.get("results", [])],
            after=_next_after(answer),
            call=call,
        )

    def list_page(
        self, object_type: str, properties: list[str], after: str | None = None
    ) -> SearchPage:
        """One page (100 records, oldest first) of every live record of a type.

        Unlike search, a list reads what HubSpot holds now (search may lag a
        write) and pages without the 10,000-result cap.
        """
        query = {"limit": str(LIST_PAGE), "properties": ",".join(properties)}
        if after:
            query["after"] = after
        _, answer, call = self._send(
            "GET", f"/crm/v3/objects/{object_type}?{urlencode(query)}"
        )
        results = [_parse_object(r) for r in answer.get("results", [])]
        return SearchPage(
            total=len(results),
            results=results,
            after=_next_after(answer),
            call=call,
        )

    def batch_associate(
        self, from_type: str, to_type: str, type_id: int, pairs: list[tuple[str, str]]
    ) -> BatchAnswer:
        inputs = [
            {
                "from": {"id": from_id},
                "to": {"id": to_id},
                "types": [
                    {
                        "associationCategory": "HUBSPOT_DEFINED",
                        "associationTypeId": type_id,
                    }
                ],
            }
            for from_id, to_id in pairs
        ]
        path = f"/crm/v4/associations/{from_type}/{to_type}/batch/create"
        status, body, call = self._post(path, inputs)
        results = [_parse_association(r) for r in body.get("results", [])]
        errors = [_parse_error_item(e) for e in body.get("errors", [])]
        return BatchAnswer(status, results, errors, call)

    def batch_read_associations(
        self, from_type: str, to_type: str, ids: list[str]
    ) -> dict[str, set[str]]:
        """The ids each record is linked to (one page of up to 500 links each).

        HubSpot reads at most 1,000 records a call (api-facts §5): more are
        read in as many calls.
        """
        path = f"/crm/v4/associations/{from_type}/{to_type}/batch/read"
        links: dict[str, set[str]] = {}
        for start in range(0, len(ids), ASSOCIATION_READ_SIZE):
            chunk = ids[start : start + ASSOCIATION_READ_SIZE]
            _, body, _ = self._post(path, [{"id": i} for i in chunk])
            for result in body.get("results", []):
                links[str(result["from"]["id"])] = {
                    str(link["toObjectId"]) for link in result.get("to", [])
                }
        return links

    # Properties API.

    def get_property(self, object_type: str, name: str) -> dict | None:
        try:
            _, body, _ = self._send(
                "GET", f"/crm/v3/properties/{object_type}/{name}", quiet=(404,)
            )
        except HubSpotError as exc:
            if exc.status == 404:
                return None
            raise
        return body

    def create_property(self, object_type: str, definition: dict) -> dict:
        # Safe to send again: a second create of one name answers 409.
        _, body, _ = self._send("POST", f"/crm/v3/properties/{object_type}", definition)
        return body

    # Imports (api-facts §6).

    def start_import(
        self, request: dict, files: list[tuple[str, bytes]]
    ) -> ImportStatus:
        """Post an import; HubSpot answers at once, before any row is read.

        Sent again after a lost answer it may start a second import of the
        same rows: harmless, since Tally's imports upsert on the store key.
        """
        body = Multipart(
            {"importRequest": json.dumps(request)},
            [("files", name, content) for name, content in files],
        )
        _, answer, call = self._send("POST", "/crm/v3/imports", multipart=body)
        return _parse_import(answer, call)

    def get_import(self, import_id: str) -> ImportStatus:
        _, answer, call = self._send("GET", f"/crm/v3/imports/{import_id}")
        return _parse_import(answer, call)

    def import_errors(
        self, import_id: str, after: str | None = None, limit: int = LIST_PAGE
    ) -> ImportErrorPage:
        query = {
            "limit": str(limit),
            "includeErrorMessage": "true",
            "includeRowData": "true",
        }
        if after:
            query["after"] = after
        path = f"/crm/v3/imports/{import_id}/errors?{urlencode(query)}"
        _, answer, call = self._send("GET", path)
        return ImportErrorPage(
            errors=[_parse_import_error(e) for e in answer.get("results", [])],
            after=_next_after(answer),
            call=call,
        )

    def cancel_import(self, import_id: str) -> str:
        """Cancel an import; returns HubSpot's action status (COMPLETE when done)."""
        _, answer, _ = self._send("POST", f"/crm/v3/imports/{import_id}/cancel")
        return str(answer.get("status", ""))

    # Plumbing.

    def _object_answer(self, answer: tuple) -> BatchAnswer:
        status, body, call = answer
        results = [_parse_object(r) for r in body.get("results", [])]
        errors = [_parse_error_item(e) for e in body.get("errors", [])]
        return BatchAnswer(status, results, errors, call)

    def _post(self, path: str, inputs: list[dict], *, extra=None, idempotent=True):
        payload = {"inputs": inputs, **(extra or {})}
        return self._send("POST", path, payload, idempotent=idempotent)

    def _send(
        self, method, path, payload=None, *, idempotent=True, quiet=(), multipart=None
    ):
        """Send with bounded retries; return (status, parsed body, last call).

        Raises HubSpotError for a refusal, or once the attempts are used up.
        A ``multipart`` body is sent instead of ``payload``.
        """
        body_text = json.dumps(payload) if payload is not None else ""
        if multipart is not None:
            body_text = multipart.describe()
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._attempt(
                    method, path, body_text, attempt, idempotent, multipart
                )
            except _Retry as retry:
                if attempt == self.max_attempts:
                    self._warn(retry.error, method, path)
                    raise retry.error from None
                self._sleep(retry.wait)
            except HubSpotError as error:
                if error.status not in quiet:
                    self._warn(error, method, path)
                raise
        raise AssertionError("unreachable")

    @staticmethod
    def _warn(error: HubSpotError, method: str, path: str) -> None:
        logger.warning(
            "HubSpot call %s %s failed: %s %s",
            method,
            path,
            error.status or error.category,
            error.message[:200],
        )

    def _attempt(self, method, path, body_text, attempt, idempotent, multipart=None):
        bucket = ratelimit.SEARCH if path.endswith("/search") else ratelimit.GENERAL
        try:
            self.budget.acquire(bucket)
        except ratelimit.DailyLimitReached as exc:
            raise _daily_limit_error(exc.until) from None
        if multipart is not None:
            # None drops the session's JSON content type: requests then sets
            # multipart/form-data with its boundary.
            body = {"files": multipart.parts(), "headers": {"Content-Type": None}}
        else:
            body = {"data": body_text or None}
        started = time.monotonic()
        try:
            response = self.session.request(
                method, self.base_url + path, timeout=self.timeout, **body
            )
        except requests.RequestException as exc:
            self._network_failure(
                exc, method, path, body_text, attempt, started, idempotent
            )
        duration_ms = int((time.monotonic() - started) * 1000)
        call = self._record(method, path, body_text, attempt, duration_ms, response)
        body = redact(_json_or_none(response), self._token)
        limits = call.rate_limit
        self.budget.observe(bucket, limits.get("max"), limits.get("interval_ms"))
        if 200 <= response.status_code < 300:
            return response.status_code, body or {}, call
        raise self._http_failure(response, body, call, attempt, bucket)

    def _network_failure(
        self, exc, method, path, body_text, attempt, started, idempotent
    ):
        duration_ms = int((time.monotonic() - started) * 1000)
        reason = _describe_network_error(exc)
        call = self._record(method, path, body_text, attempt, duration_ms, None, reason)
        not_sent = isinstance(exc, requests.ConnectTimeout) or _refused(exc)
        error = HubSpotError(
            f"No answer from HubSpot: {reason}",
            permanent=False,
            category="NETWORK",
            applied_unknown=not (idempotent or not_sent),
            call=call,
        )
        if idempotent or not_sent:
            raise _Retry(error, _backoff(attempt))
        raise error

    def _http_failure(self, response, body, call, attempt, bucket) -> Exception:
        body = body if isinstance(body, dict) else {}
        status = response.status_code
        error = HubSpotError(
            self._scrub(str(body.get("message") or f"HubSpot answered HTTP {status}")),
            permanent=status < 500 and status not in (423, 429),
            status=status,
            category=str(body.get("category") or body.get("policyName") or ""),
            errors=list(body.get("errors") or []),
            call=call,
        )
        if status == 429 and body.get("policyName") == "DAILY":
            error.category = "DAILY_LIMIT"
            self.budget.daily_exhausted()
            return error
        if status == 429:
            wait = _retry_after(response) or _backoff(attempt, base=1.0)
            self.budget.back_off(bucket, wait)
            return _Retry(error, 0)  # the budget makes every worker wait
        if status >= 500 or status == 423:
            return _Retry(error, _retry_after(response) or _backoff(attempt))
        return error

    def _record(
        self, method, path, body_text, attempt, duration_ms, response, error=""
    ):
        headers = response.headers if response is not None else {}
        self.attempts += 1
        call = ApiCall.objects.create(
            run_id=self._run_id,
            batch_id=self._batch_id,
            method=method,
            endpoint=path,
            attempt=attempt,
            status=response.status_code if response is not None else None,
            duration_ms=duration_ms,
            correlation_id=headers.get("X-HubSpot-Correlation-Id", "")[:64],
            rate_limit={
                key: _int_or_none(headers.get(header))
                for header, key in RATE_LIMIT_HEADERS.items()
                if header in headers
            },
            request_body=self._scrub(body_text),
            response_body=self._scrub(response.text if response is not None else ""),
            error=error[:300],
        )
        return call

    def _scrub(self, text: str) -> str:
        return redact(text, self._token)


class _Retry(Exception):
    def __init__(self, error: HubSpotError, wait: float) -> None:
        super().__init__(error.message)
        self.error = error
        self.wait = wait


def _daily_limit_error(until: float) -> HubSpotError:
    reset = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(until))
    return HubSpotError(
        f"HubSpot's daily API limit is used up until {reset}; nothing was sent.",
        permanent=False,
        status=429,
        category="DAILY_LIMIT",
    )


def _backoff(attempt: int, base: float = 0.5, cap: float = 10.0) -> float:
    return min(cap, base * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


def _retry_after(response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(60.0, float(value)) if value else None
    except ValueError:
        return None


def _json_or_none(response):
    try:
        return response.json()
    except ValueError:
        return None


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _refused(exc: Exception) -> bool:
    return isinstance(exc, requests.ConnectionError) and "refused" in str(exc).lower()


def _describe_network_error(exc: Exception) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if _refused(exc):
        return "connection refused"
    return type(exc).__name__
