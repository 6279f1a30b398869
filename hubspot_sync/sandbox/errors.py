"""HubSpot's error shapes: the whole-request envelope and the per-item ``StandardError``."""

import json
from dataclasses import dataclass, field
from typing import Any


class ApiError(Exception):
    """A whole-request failure, answered as HubSpot's error envelope (api-facts §3)."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        errors: list[dict] | None = None,
        context: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.errors = errors
        self.context = context

    def body(self, correlation_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        if self.context is not None:
            body["context"] = self.context
        body["category"] = self.category
        return body


def error_item(
    category: str,
    message: str,
    context: dict[str, list[str]],
    details: list[dict] | None = None,
) -> dict[str, Any]:
    # The docs' 207 example leaves out `errors` and `links`, but SPEC and the
    # official Python client require both (api-facts §1.2, §10), so they are sent.
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": details or [],
        "links": {},
    }


def not_found_message(label: str) -> str:
    return f"Could not get some {label} objects, they may be deleted or not exist. Check that ids are valid."


def bad_request(message: str) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message)


@dataclass(frozen=True)
class Problem:
    """One invalid property value, as HubSpot lists it in "Property values were not valid"."""

    code: str
    message: str
    name: str

    def detail(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "code": self.code,
            "context": {"propertyName": [self.name]},
        }

    def check(self, portal_id: int) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.code,
            "name": self.name,
            "localizedErrorMessage": self.message,
            "portalId": portal_id,
        }


@dataclass
class InputFailure(Exception):
    """Why one batch input cannot be written.

    Answered as the whole request's error when the batch is all-or-nothing,
    or as one item in ``errors[]`` when every input carries an objectWriteTraceId.
    """

    status: int
    category: str
    message: str
    details: list[dict] = field(default_factory=list)

    def as_api_error(self) -> ApiError:
        return ApiError(self.status, self.category, self.message, errors=self.details)

    def as_item(self, context: dict[str, list[str]]) -> dict[str, Any]:
        return error_item(self.category, self.message, context, self.details)


def invalid_values(problems: list[Problem], portal_id: int) -> InputFailure:
    checks = json.dumps([p.check(portal_id) for p in problems], separators=(",", ":"))
    return InputFailure(
        400,
        "VALIDATION_ERROR",
        f"Property values were not valid: {checks}",
        [p.detail() for p in problems],
    )
