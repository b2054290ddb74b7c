"""Client-side pacing: stay just under a CRM's documented rate limit instead of bouncing off it.

Two models, matching how the CRMs count (and how the fakes enforce it):

* ``requests_per_second`` (AmoCRM: 7/s per token, counted in any one-second window): requests
  are spaced evenly, ``1/rate`` apart — a burst of 7 followed by an 8th inside the same second
  would be refused, even spacing never is.
* ``leaky_bucket`` (Bitrix24: each request adds 1, the level drains ``rate``/s, above ``burst`` the
  request is refused): we keep our own copy of the level and wait until one more request fits.

A small ``margin`` keeps us a little under the limit, so clock jitter between us and the server
does not turn into 429/503s. One pacer is shared by every session of a connection in a process,
and its state outlives the process (:meth:`Pacer.snapshot` / :meth:`Pacer.restore`, in wall-clock
time): the CRM's bucket does not empty because our run ended, so the next run must not assume it did.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    """Blocks in :meth:`acquire` until another request may be sent; thread-safe."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds spent waiting, for run statistics

    def acquire(self) -> None:
        with self._lock:
            delay = self._reserve(self._clock())
        if delay > 0:
            self.waited += delay
            self._sleep(delay)

    def _reserve(self, now: float) -> float:  # returns how long the caller must wait
        raise NotImplementedError

    def snapshot(self) -> dict | None:
        """What the next process needs to go on where this one stopped (None: nothing to keep)."""
        return None

    def restore(self, state: dict) -> None:
        """Take over a :meth:`snapshot` made by another process (ignored if it is of another kind)."""

    def _to_wall(self, mono: float) -> float:
        return time.time() + (mono - self._clock())

    def _from_wall(self, wall: float) -> float:
        return self._clock() + (wall - time.time())


class EvenSpacing(Pacer):
    def __init__(self, rate: float, margin: float = 0.03, **kw: Callable) -> None:
        super().__init__(**kw)
        self.interval = 1.0 / (rate * (1.0 - margin))
        self._next = 0.0

    def _reserve(self, now: float) -> float:
        start = max(now, self._next)
        self._next = start + self.interval
        return start - now

    def snapshot(self) -> dict | None:
        with self._lock:
            return {"type": "even_spacing", "next": self._to_wall(self._next)} if self._next else None

    def restore(self, state: dict) -> None:
        if state.get("type") == "even_spacing":
            with self._lock:
                self._next = max(self._next, self._from_wall(float(state["next"])))


class LeakyBucket(Pacer):
    def __init__(self, rate: float, burst: float, margin: float = 0.03, **kw: Callable) -> None:
        super().__init__(**kw)
        self.rate = rate * (1.0 - margin)
        self.capacity = max(1.0, burst - 1.0)  # one request of headroom against the server's own rounding
        self._level = 0.0
        self._last: float | None = None

    def _reserve(self, now: float) -> float:
        level = 0.0 if self._last is None else max(0.0, self._level - (now - self._last) * self.rate)
        wait = 0.0
        if level + 1.0 > self.capacity:
            wait = (level + 1.0 - self.capacity) / self.rate
            level = self.capacity - 1.0
            now += wait
        self._level = level + 1.0
        self._last = now
        return wait

    def snapshot(self) -> dict | None:
        with self._lock:
            if self._last is None:
                return None
            return {"type": "leaky_bucket", "level": self._level, "at": self._to_wall(self._last)}

    def restore(self, state: dict) -> None:
        if state.get("type") == "leaky_bucket":
            with self._lock:
                self._level, self._last = float(state["level"]), self._from_wall(float(state["at"]))

    def penalise(self) -> None:
        """The server said the bucket is full: believe it, and start from full."""
        with self._lock:
            self._level = self.capacity
            self._last = self._clock()


class Unlimited(Pacer):
    def _reserve(self, now: float) -> float:
        return 0.0


def pacer_for(spec: dict | None) -> Pacer:
    """The pacer a connector spec's ``rate_limit`` block asks for."""
    if not spec:
        return Unlimited()
    kind = spec.get("type")
    if kind == "requests_per_second":
        return EvenSpacing(float(spec["requests"]))
    if kind == "leaky_bucket":
        return LeakyBucket(float(spec["rate"]), float(spec["burst"]))
    raise ValueError(f"rate_limit.type {kind!r} is not one of: requests_per_second, leaky_bucket")
