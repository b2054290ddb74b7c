"""Time as the fake CRMs see it: real by default, settable in tests (``updated_at`` values)."""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall-clock seconds with an adjustable offset, and strictly increasing when ``tick`` is used."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._frozen: float | None = None
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._frozen if self._frozen is not None else time.time() + self._offset

    def freeze(self, at: float) -> None:
        with self._lock:
            self._frozen = at

    def unfreeze(self) -> None:
        with self._lock:
            self._frozen = None

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds
