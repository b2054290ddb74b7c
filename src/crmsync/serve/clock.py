"""The scheduler's clock: wall time, or wall time sped up for tests.

``CRMSYNC_SERVE_TIME_SCALE=30`` makes a scheduled minute pass in two real seconds; the same real
code path runs (cron, skips, catch-up, backoff), only faster. Scaled time is measured from
``CRMSYNC_SERVE_TIME_ORIGIN`` (a Unix time, default the server's start), so two servers started one
after the other with the same origin share one timeline: the second sees the slots missed while
none ran.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

from crmsync.errors import UserError

SCALE = "CRMSYNC_SERVE_TIME_SCALE"
ORIGIN = "CRMSYNC_SERVE_TIME_ORIGIN"


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise UserError(f"{name} must be above 0, not {raw!r}")
    return value


class Clock:
    def __init__(self, scale: float | None = None, origin: float | None = None) -> None:
        self.scale = scale if scale is not None else _number(SCALE, 1.0)
        self.origin = origin if origin is not None else _number(ORIGIN, time.time())

    def now(self) -> dt.datetime:
        real = time.time()
        return dt.datetime.fromtimestamp(self.origin + (real - self.origin) * self.scale, dt.timezone.utc)

    def real_seconds(self, scheduled_seconds: float) -> float:
        return max(0.0, scheduled_seconds / self.scale)

    def wait(self, stop: threading.Event, until: dt.datetime, most: float = 1.0) -> None:
        """Sleep until the scheduled time ``until`` or ``most`` real seconds, whichever is first (or a stop)."""
        gap = (until - self.now()).total_seconds()
        stop.wait(min(most, self.real_seconds(gap)) if gap > 0 else 0)
