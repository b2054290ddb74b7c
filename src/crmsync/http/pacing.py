"""Client-side pacing: stay just under a CRM's documented rate limit instead of bouncing off it.

Two models, matching how the CRMs count (and how the fakes enforce it):

* ``requests_per_second`` (AmoCRM: 7/s per token, counted in any one-second window): each of the
  last 7 requests holds a slot from just before it was sent until a window after its answer
  arrived (the server counted it somewhere in between), and the next one goes as soon as a slot is
  free. A run of a few requests (a no-op incremental run makes ~9) goes out at once instead of
  1/7 s apart — even spacing cost such a run ~1 s of sleeping; a long run settles just under
  7 per (1 s + one answer's latency) and is never refused, however the threads are scheduled.
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

    def done(self) -> None:
        """The answer to the request just sent has arrived (for pacers that count from the server's side)."""

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


class RollingWindow(Pacer):
    """At most ``limit`` requests in any ``window`` seconds *as the server counts them*, bursts allowed.

    The server counts a request when it arrives: some time after we decided to send it (thread
    scheduling, connection set-up, the network — on a loaded machine tens of milliseconds) and
    before its answer reached us. So a request holds its slot from just before it is sent until a
    window after its answer: however late it really left, the server cannot have counted it later
    than that. A request still in flight holds its slot open. A thread sends one request at a time,
    so its next :meth:`acquire` closes its previous slot if :meth:`done` was not called (an exception).
    The cost against the ceiling is one answer's latency per window (``limit`` requests per
    ``window + latency``); ``margin`` (1 %) only covers the server's own rounding, since scheduling
    jitter can no longer squeeze the window.
    """

    POLL = 0.005  # seconds between looks while every slot is held by a request still in flight
    STALE = 120.0  # a slot whose request never reported back (its thread died) counts as answered by then

    def __init__(self, limit: int, window: float = 1.0, margin: float = 0.01, **kw: Callable) -> None:
        super().__init__(**kw)
        self.limit = max(1, int(limit))
        self.window = window * (1.0 + margin)
        self._slots: list[list[float | None]] = []   # [reserved at, answered at (None: in flight)]
        self._mine = threading.local()

    def acquire(self) -> None:
        self._close_mine()
        while True:
            with self._lock:
                now = self._clock()
                for s in self._slots:
                    if s[1] is None and s[0] is not None and now - s[0] > self.STALE:
                        s[1] = s[0] + self.STALE
                self._slots = [s for s in self._slots if s[1] is None or s[1] + self.window > now]
                if len(self._slots) < self.limit:
                    slot: list[float | None] = [now, None]
                    self._slots.append(slot)
                    self._mine.slot = slot
                    return
                answered = [s[1] for s in self._slots if s[1] is not None]
                delay = min(answered) + self.window - now if answered else self.POLL
            self.waited += delay
            self._sleep(delay)

    def done(self) -> None:
        self._close_mine()

    def _close_mine(self) -> None:
        slot = getattr(self._mine, "slot", None)
        if slot is not None:
            with self._lock:
                if slot[1] is None:
                    slot[1] = self._clock()
            self._mine.slot = None

    def snapshot(self) -> dict | None:
        with self._lock:
            now = self._clock()
            ends = [now if s[1] is None else s[1] for s in self._slots]
            return {"type": "rolling_window", "sent": [self._to_wall(t) for t in ends]} if ends else None

    def restore(self, state: dict) -> None:
        if state.get("type") == "rolling_window":
            with self._lock:
                for wall in state["sent"][-self.limit:]:
                    at = self._from_wall(float(wall))
                    self._slots.append([at, at])


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
        return RollingWindow(int(spec["requests"]))
    if kind == "leaky_bucket":
        return LeakyBucket(float(spec["rate"]), float(spec["burst"]))
    raise ValueError(f"rate_limit.type {kind!r} is not one of: requests_per_second, leaky_bucket")
