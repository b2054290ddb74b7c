"""HubSpot's documented request limits and the headers that report them.

* Private apps: a rolling 10-second burst per app (190 on Professional/Enterprise, 100 on Free and
  Starter) and a daily count per account (625,000 Professional; 250,000 Free/Starter; 1,000,000
  Enterprise) that resets at midnight. Both show in ``X-HubSpot-RateLimit-*`` headers.
* OAuth apps: 110 requests per 10 seconds per account; no daily headers.
* Search endpoints: 5 requests per second per account, and their responses carry none of the headers.

A rejected request answers 429 with ``policyName`` TEN_SECONDLY_ROLLING, DAILY or SECONDLY.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..clock import Clock
from ..ratelimit import SlidingWindow


@dataclass
class Verdict:
    policy: str | None  # None: allowed
    headers: dict[str, str]


class HubSpotLimits:
    def __init__(self, burst: int, oauth_burst: int, daily: int, search_per_second: int, clock: Clock) -> None:
        self.burst = SlidingWindow(burst, 10.0)
        self.oauth_burst = SlidingWindow(oauth_burst, 10.0)
        self.search = SlidingWindow(search_per_second, 1.0)
        self.daily = daily
        self.clock = clock
        self._day: tuple[int, int] = (-1, 0)  # (day number, requests counted that day)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:  # the BaseApp limiter protocol, for callers that only need yes/no
        return self.check(key, oauth=False, search=False).policy is None

    def check(self, key: str, *, oauth: bool, search: bool) -> Verdict:
        if search:
            ok = self.search.allow("account")
            return Verdict(None if ok else "SECONDLY", {})
        window = self.oauth_burst if oauth else self.burst
        headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                   "X-HubSpot-RateLimit-Max": str(window.limit)}
        if not oauth:
            with self._lock:
                today = int(self.clock.now() // 86400)
                used = self._day[1] if self._day[0] == today else 0
                if used >= self.daily:
                    headers.update({"X-HubSpot-RateLimit-Daily": str(self.daily),
                                    "X-HubSpot-RateLimit-Daily-Remaining": "0",
                                    "X-HubSpot-RateLimit-Remaining": str(window.remaining(key))})
                    return Verdict("DAILY", headers)
        if not window.allow(key):
            headers["X-HubSpot-RateLimit-Remaining"] = "0"
            return Verdict("TEN_SECONDLY_ROLLING", headers)
        headers["X-HubSpot-RateLimit-Remaining"] = str(window.remaining(key))
        if not oauth:
            with self._lock:
                today = int(self.clock.now() // 86400)
                used = (self._day[1] if self._day[0] == today else 0) + 1
                self._day = (today, used)
            headers.update({"X-HubSpot-RateLimit-Daily": str(self.daily),
                            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily - used))})
        return Verdict(None, headers)
