"""When a pipeline runs next: its ``schedule:`` cron (five fields, UTC) read by croniter. ``crmsync
status`` shows it and ``crmsync serve`` runs on it, so both agree to the second."""

from __future__ import annotations

import datetime as dt

from croniter import CroniterBadCronError, croniter


def cron_problem(expression: str) -> str | None:
    """What is wrong with ``expression`` as a schedule, or None (``crmsync validate`` reports it)."""
    if len(expression.split()) != 5:
        return "a schedule has five fields: minute hour day-of-month month day-of-week"
    try:
        croniter(expression)
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        return f"not a valid cron expression: {exc}"
    return None


def next_run(expression: str | None, after: dt.datetime | None = None) -> dt.datetime | None:
    """The first time at or after ``after`` (default: now, UTC) that ``expression`` names; None without a
    schedule. The clock is UTC: a cron of ``0 9 * * *`` runs at 09:00 UTC."""
    if not expression or cron_problem(expression):
        return None
    start = (after or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    # croniter's get_next is strictly after its start: step back a microsecond so an exact slot counts
    return croniter(expression, start - dt.timedelta(microseconds=1)).get_next(dt.datetime)
