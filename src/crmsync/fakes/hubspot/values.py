"""HubSpot's value rules: every property is a string; datetimes are RFC 3339 in UTC with milliseconds,
dates ``YYYY-MM-DD``; writes may send either form or milliseconds since the epoch.
"""

from __future__ import annotations

from datetime import date, datetime, timezone


def iso_ms(ms: int) -> str:
    """``2026-01-01T09:30:00.123Z``: how v3 renders ``createdAt``/``updatedAt`` and datetime properties."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def parse_ms(text: str) -> int | None:
    """Milliseconds from ``1767225600000``, ``2026-01-01``, ``2026-01-01T00:00:00Z`` or with an offset."""
    text = text.strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp() * 1000)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(round(dt.timestamp() * 1000))


def as_text(value: object) -> str:
    """A JSON value as HubSpot stores it: ``true`` → ``"true"``, ``12.0`` → ``"12"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
