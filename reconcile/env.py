"""Typed readers for settings that come from environment variables.

A value that cannot be parsed is not fatal here: it is recorded in ``PROBLEMS``
and the default is used, so that ``manage.py check`` can report it with a
stable id instead of the process dying at import time.
"""

import os
import zoneinfo
from urllib.parse import urlsplit

PROBLEMS: list[tuple[str, str]] = []

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def get_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def get_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    PROBLEMS.append((name, f"{raw!r} is not a boolean (use 1/0, true/false)"))
    return default


def get_int(
    name: str, default: int, minimum: int | None = None, maximum: int | None = None
) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        PROBLEMS.append((name, f"{raw!r} is not a whole number"))
        return default
    if minimum is not None and value < minimum:
        PROBLEMS.append((name, f"{value} is below the minimum of {minimum}"))
        return default
    if maximum is not None and value > maximum:
        PROBLEMS.append((name, f"{value} is above the maximum of {maximum}"))
        return default
    return value


def get_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def get_choice(name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``; the first is the default."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return choices[0]
    value = raw.strip().lower()
    if value not in choices:
        PROBLEMS.append((name, f"{raw!r} is not one of {', '.join(choices)}"))
        return choices[0]
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def get_log_level(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip().upper()
    if not raw:
        return default
    if raw not in LOG_LEVELS:
        PROBLEMS.append((name, f"{raw!r} is not one of {', '.join(LOG_LEVELS)}"))
        return default
    return raw


def get_time_zone(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        PROBLEMS.append((name, f"{raw!r} is not a known time zone"))
        return default
    return raw


def hostname(url: str) -> str:
    """The URL's host name, lower case, without a trailing dot; "" if unparseable."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()
