"""Bitrix24's per-method "operating" budget: server seconds spent per method in a sliding 10 minutes.

The real portal sums each method's execution time in ten one-minute baskets; past the limit, calls of
that method get 429 ``OPERATION_TIME_LIMIT`` until the oldest basket ages out (``operating_reset_at``).
Every call is recorded so ``time.operating`` is always reported; the limit itself is optional.
"""

from __future__ import annotations

import threading
from collections import deque

WINDOW = 600
BASKET = 60


class OperatingBudget:
    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self._baskets: dict[str, deque[list[float]]] = {}  # key -> [[basket_start, seconds], ...]
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[list[float]]:
        baskets = self._baskets.setdefault(key, deque())
        while baskets and baskets[0][0] + WINDOW <= now:
            baskets.popleft()
        return baskets

    def used(self, key: str, now: float) -> float:
        with self._lock:
            return sum(b[1] for b in self._trim(key, now))

    def blocked(self, key: str, now: float) -> bool:
        return self.limit is not None and self.used(key, now) >= self.limit

    def add(self, key: str, seconds: float, now: float) -> None:
        with self._lock:
            baskets = self._trim(key, now)
            start = now - now % BASKET
            if baskets and baskets[-1][0] == start:
                baskets[-1][1] += seconds
            else:
                baskets.append([start, seconds])

    def reset_at(self, key: str, now: float) -> int:
        """When the oldest basket leaves the window (a full window from now when nothing is recorded)."""
        with self._lock:
            baskets = self._trim(key, now)
            return int((baskets[0][0] if baskets else now) + WINDOW)
