"""Wording shared by the commands and the dashboard."""

from datetime import timedelta

EMPTY = "—"


def format_duration(duration: timedelta | None) -> str:
    """As people say it: "0.4 s", "1 min 12 s", "2 h 5 min"; "—" for none."""
    if duration is None:
        return EMPTY
    seconds = duration.total_seconds()
    if round(seconds, 1) < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
