"""Timestamps and dates. Canonical timestamps are ISO-8601 in UTC (``2026-01-01T00:00:00Z``);
canonical dates (birthdays, contract dates) are ``YYYY-MM-DD``."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timezone
from typing import Any

from ..context import Context
from ..registry import Transform

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_canonical_time(value: Any, ctx: Context) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ctx.reject(f"{value!r} is not an ISO-8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_canonical_date(value: Any, ctx: Context) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ctx.reject(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _unix(value: Any, ctx: Context) -> int:
    if isinstance(value, bool):
        raise ctx.reject(f"{value!r} is not a Unix timestamp")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ctx.reject(f"{value!r} is not a Unix timestamp") from None


class UnixTime(Transform):
    summary = "Unix seconds ⇄ ISO-8601 UTC timestamp"

    def forward(self, value: Any, ctx: Context) -> Any:
        seconds = _unix(value, ctx)
        try:
            moment = time.gmtime(seconds)  # the same text as through datetime, at a quarter of the cost
        except (OverflowError, OSError, ValueError):
            moment = None
        if moment is None or not 1 <= moment.tm_year <= 9999:
            raise ctx.reject(f"{value!r} is not a Unix timestamp of the years 1 to 9999")
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", moment)

    def inverse(self, value: Any, ctx: Context) -> Any:
        return int(parse_canonical_time(value, ctx).timestamp())


class IsoTime(Transform):
    summary = "ISO-8601 with any offset, or a date alone (midnight UTC) ⇄ ISO-8601 UTC timestamp"

    def forward(self, value: Any, ctx: Context) -> Any:
        text = str(value).strip()
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ctx.reject(f"{value!r} is not an ISO-8601 date-time") from None
        if _DATE_ONLY.match(text):  # a date without a time is that day's midnight UTC (a CRM's date-only field)
            moment = moment.replace(tzinfo=timezone.utc)
        if moment.tzinfo is None:
            raise ctx.reject(f"{value!r} has no UTC offset, so its moment is unknown")
        return utc_text(moment)

    def inverse(self, value: Any, ctx: Context) -> Any:
        return parse_canonical_time(value, ctx).astimezone(timezone.utc).isoformat()


class UnixDate(Transform):
    summary = "a date stored as Unix seconds at midnight UTC ⇄ YYYY-MM-DD"

    def forward(self, value: Any, ctx: Context) -> Any:
        seconds = _unix(value, ctx)
        try:
            return datetime.fromtimestamp(seconds, timezone.utc).date().isoformat()
        except (OverflowError, OSError, ValueError):  # beyond the platform's time_t or year 9999
            raise ctx.reject(f"{value!r} is not a Unix timestamp of the years 1 to 9999") from None

    def inverse(self, value: Any, ctx: Context) -> Any:
        day = parse_canonical_date(value, ctx)
        return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


class IsoDate(Transform):
    summary = "a date as ISO text, maybe midnight in the account's zone ⇄ YYYY-MM-DD"

    def forward(self, value: Any, ctx: Context) -> Any:
        text = str(value).strip()
        if not text:
            return None
        try:  # the calendar day as the CRM shows it: local midnight must not slip to the day before
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
        except ValueError:
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError:
                raise ctx.reject(f"{value!r} is not a date") from None

    def inverse(self, value: Any, ctx: Context) -> Any:
        return parse_canonical_date(value, ctx).isoformat()
