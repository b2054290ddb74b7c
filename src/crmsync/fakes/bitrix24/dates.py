"""Bitrix24 time formats: ISO-8601 with the portal's UTC offset out, many spellings in.

The portal renders every CRM and task timestamp in its own time zone (``2024-08-15T10:38:21+03:00``);
``date`` values are midnight of that day in the same zone. Filters accept ISO with or without an
offset, ``YYYY-MM-DD`` and the Russian-locale ``DD.MM.YYYY [HH:MM:SS]``; values without an offset are
read in the portal's zone (UNCONFIRMED, as the reference notes).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache

_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_RU_DATE = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4})(?:\s+(\d{2}):(\d{2})(?::(\d{2}))?)?$")


@lru_cache(maxsize=16)
def parse_offset(text: str) -> timezone:
    """``"+03:00"`` → a fixed-offset zone; a readable error for anything else."""
    m = _OFFSET.match(text.strip())
    if not m:
        raise ValueError(f"timezone {text!r} is not an offset like +03:00 or -05:00")
    sign = 1 if m.group(1) == "+" else -1
    return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))


def iso(ts: float | None, tz: str) -> str | None:
    """Unix seconds → ``2024-08-15T10:38:21+03:00`` in the portal zone."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), parse_offset(tz)).isoformat()


def iso_date(ts: float | None, tz: str) -> str | None:
    """A ``date`` field as Bitrix24 renders it: midnight of that (UTC) calendar day in the portal zone."""
    if ts is None:
        return None
    day = datetime.fromtimestamp(int(ts), timezone.utc).date()
    return datetime(day.year, day.month, day.day, tzinfo=parse_offset(tz)).isoformat()


@lru_cache(maxsize=200_000)
def parse(value: str, tz: str) -> datetime | None:
    """Read a stored or filter date/datetime; ``None`` when it is not a date at all."""
    text = str(value).strip()
    if not text:
        return None
    zone = parse_offset(tz)
    m = _RU_DATE.match(text)
    if m:
        d, mo, y, h, mi, s = m.groups()
        return datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=zone)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=zone)


def to_ts(value: str | None, tz: str) -> float | None:
    if value is None:
        return None
    dt = parse(value, tz)
    return dt.timestamp() if dt else None


def normalise(value: object, tz: str, date_only: bool = False) -> str | None:
    """An incoming date/datetime written by a client, stored in the portal's rendering (or None)."""
    if value in (None, "", False):
        return None
    dt = parse(str(value), tz)
    if dt is None:
        raise ValueError(str(value))
    try:
        dt = dt.astimezone(parse_offset(tz))
    except OverflowError:  # 9999-12-31T23:59:59Z is in year 10000 in the portal's zone: no date the portal keeps
        raise ValueError(str(value)) from None
    if date_only:
        dt = dt.replace(hour=0, minute=0, second=0, microsecond=0)
    return dt.replace(microsecond=0).isoformat()
