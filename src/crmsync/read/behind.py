"""A read round's apply runs one round behind the read, on a thread of its own (opt-in:
``CRMSYNC_APPLY_BEHIND=on``).

A pull's main thread spends part of its time in DuckDB (dlt's load of a round, the apply's reads,
upserts and commits), and DuckDB releases the GIL while it works: with the apply of round k on another
thread while round k+1 is fetched, extracted and loaded, that part can use the second core. One apply
at a time, in round order: at most two rounds are in memory at once (the one applying, the one reading).

Off by default, as measured (benchmarks/RESULTS.md section 1): on this project's shared 2-core machine
(load average ~20) a 100k pull with it took 54.5 s of CPU against 42.6 s without, peaked at 611 MB
against 506 MB (two rounds at once), and was not faster in wall time: the threads contend for the GIL,
which the mapping and dlt's extract hold most of the time. It is for a machine with an idle second core,
where it has not been measured yet.

What a run that stops half-way leaves is what it always could: raw rows loaded by dlt but not yet
applied (``sync.cursors.applied_load`` has not moved past them), applied by the next run. An apply that
fails stops the read at the next round's end (that round is loaded, not applied) and its error is the run's.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("crmsync.pull")

SETTING = "CRMSYNC_APPLY_BEHIND"


def apply_behind() -> bool:
    """Whether a pull applies each round on a thread of its own (``CRMSYNC_APPLY_BEHIND``: on / off)."""
    from crmsync.errors import UserError

    value = os.environ.get(SETTING, "off").strip().lower()
    if value not in ("on", "off"):
        raise UserError(f"{SETTING}={value!r} is not one of: on, off (default off)")
    return value == "on"


class ApplyBehind:
    """``on_round`` for :func:`crmsync.read.run.read_connection` that runs ``apply`` on a thread;
    :meth:`wait` (after the read) waits for the last one and raises its error, if any."""

    def __init__(self, apply: Callable[[Any], None]) -> None:
        self.apply = apply
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __call__(self, result: Any) -> None:
        self.wait()  # the previous round's apply first: rounds apply in order, one at a time
        self._thread = threading.Thread(target=self._run, args=(result,), name="crmsync-apply", daemon=True)
        self._thread.start()

    def _run(self, result: Any) -> None:
        try:
            self.apply(result)
        except BaseException as exc:  # raised in the reading thread by wait()
            self._error = exc

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def settle(self) -> None:
        """Wait for the apply in flight without raising: the read failed, and its error is the one to
        tell; the apply's, if it failed too, goes to the log."""
        try:
            self.wait()
        except BaseException as exc:
            log.warning("the apply of a read round failed too: %s", exc, exc_info=exc)
