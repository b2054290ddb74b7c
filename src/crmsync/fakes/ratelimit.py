"""Server-side rate limits at the CRMs' documented numbers."""

from __future__ import annotations

import threading
import time
from collections import deque


class SlidingWindow:
    """At most ``limit`` accepted requests per key in any ``window`` seconds (AmoCRM: 7 per second)."""

    def __init__(self, limit: int, window: float = 1.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            # 1 ms of slack: a client pacing at exactly the limit must not trip on float rounding
            while hits and hits[0] <= now - self.window + 0.001:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def remaining(self, key: str, now: float | None = None) -> int:
        """Requests ``key`` may still make in the current window (HubSpot reports it in a header)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.get(key, ())
            return max(0, self.limit - sum(1 for t in hits if t > now - self.window + 0.001))


class LeakyBucket:
    """Bitrix24's limiter: each request adds 1, the level drains ``rate``/s, above ``capacity`` → reject."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            level, last = self._state.get(key, (0.0, now))
            level = max(0.0, level - (now - last) * self.rate)
            if level + 1 > self.capacity:
                self._state[key] = (level, now)
                return False
            self._state[key] = (level + 1, now)
            return True
