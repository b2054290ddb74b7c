"""Progress of a long read: records received per entity, reported at most every few seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class ReadProgress:
    def __init__(self, report: Callable[[str], None], every_seconds: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.report, self.every, self.clock = report, every_seconds, clock
        self.counts: dict[str, int] = {}
        self._last = clock()

    def counter(self, entity: str) -> Callable[[Any], Any]:
        """A dlt map step for ``entity``'s resource: counts each record (an Arrow table's rows), passes
        it on unchanged."""
        self.counts.setdefault(entity, 0)

        def count(record: Any) -> Any:
            self.counts[entity] += getattr(record, "num_rows", 1)
            now = self.clock()
            if now - self._last >= self.every:
                self._last = now
                self.report("read so far: " + ", ".join(f"{e} {n:,}" for e, n in self.counts.items()))
            return record

        return count
