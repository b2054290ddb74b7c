"""When a pipeline runs next: its ``schedule:`` (five-field cron, or ``manual``) in its ``timezone:``.

croniter reads the cron expression; the time zone comes from the IANA database (zoneinfo), so a
schedule of ``0 9 * * *`` in Europe/Moscow is 09:00 there whatever the server's own zone, across DST.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MANUAL = "manual"


def _field(pipeline_spec: Any, name: str) -> Any:
    return pipeline_spec.get(name) if isinstance(pipeline_spec, dict) else getattr(pipeline_spec, name, None)


def schedule_problem(expression: str | None, timezone: str | None = None) -> str | None:
    """Why ``expression``/``timezone`` cannot be scheduled, in words; None when they can."""
    from croniter import croniter

    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"timezone {timezone!r} is not an IANA time zone name (e.g. UTC, Europe/Moscow, America/New_York)"
    if not expression or expression.strip() == MANUAL:
        return None
    if not croniter.is_valid(expression.strip()):
        return (f"schedule {expression!r} is not a five-field cron expression (minute hour day-of-month month "
                f"day-of-week, e.g. \"*/15 * * * *\") or {MANUAL!r}")
    return None


def next_run(pipeline_spec: Any, after: dt.datetime) -> dt.datetime | None:
    """The first scheduled time strictly after ``after`` (aware, UTC); None for a manual pipeline."""
    from croniter import croniter

    expression = (_field(pipeline_spec, "schedule") or "").strip()
    if not expression or expression == MANUAL:
        return None
    zone = ZoneInfo(_field(pipeline_spec, "timezone") or "UTC")
    if after.tzinfo is None:
        after = after.replace(tzinfo=dt.timezone.utc)
    following = croniter(expression, after.astimezone(zone)).get_next(dt.datetime)
    return following.astimezone(dt.timezone.utc)
