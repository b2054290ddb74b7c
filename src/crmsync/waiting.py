"""Visible waiting: one line whenever a run waits — on another run's lock, on a store a DuckDB client
holds, in a back-off after a CRM error, or on a slow answer — saying why and for how long.

Library code calls :func:`notify`; the front end decides where lines go (the CLI: stderr, never the
``--json`` stdout; ``crmsync serve``: its log). Every line is also in the project's log file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("crmsync.waiting")
_sinks: list[Callable[[str], None]] = []


def notify(message: str) -> None:
    log.info("%s", message)
    for sink in list(_sinks):
        sink(message)


def add_sink(sink: Callable[[str], None]) -> Callable[[], None]:
    """Send every waiting line to ``sink`` too; returns the function that stops it."""
    _sinks.append(sink)
    return lambda: _sinks.remove(sink) if sink in _sinks else None


@contextmanager
def redirected(sink: Callable[[str], None]) -> Iterator[None]:
    """Only ``sink`` gets the lines meanwhile (a live progress display prints them above itself)."""
    saved = _sinks[:]
    _sinks[:] = [sink]
    try:
        yield
    finally:
        _sinks[:] = saved


def _seconds_env(name: str, default: float) -> float:
    try:
        return max(float(os.environ.get(name, default)), 0.1)
    except ValueError:
        return default


def seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


SHOWN_BACKOFF = 1.0   # shorter back-offs (a 429 under a burst) go to the log only: a line each would flood
SLOW_ANSWER = "CRMSYNC_SLOW_ANSWER_SECONDS"  # seconds without an answer before a line says so (default 10;
                                             # the CRMs' timeouts are 60-90 s)


def backing_off(crm: str, reason: str, delay: float, attempt: int, attempts: int) -> None:
    message = (f"{crm}: {reason or 'no answer'}; retrying in {seconds(delay)} "
               f"(attempt {attempt + 1} of {attempts})")
    if delay >= SHOWN_BACKOFF:
        notify(message)
    else:
        log.debug("%s", message)


_pending: dict[int, list] = {}  # in-flight requests: id -> [began, next line at, crm, method, url]
_watch_lock = threading.Lock()
_watcher: list[threading.Thread] = []


@contextmanager
def slow_answer(crm: str, method: str | None, url: str, after: float | None = None) -> Iterator[None]:
    """A line if ``crm`` has not answered ``method url`` within ``after`` seconds (then again every
    ``after``). One watcher thread serves every request: a request costs a dict entry, not a thread."""
    every = after if after is not None else _seconds_env(SLOW_ANSWER, 10.0)
    began = time.monotonic()
    key = id(object()) ^ threading.get_ident()
    with _watch_lock:
        _pending[key] = [began, began + every, crm, method, url, every]
        if not _watcher:
            _watcher.append(threading.Thread(target=_watch, name="crmsync-slow-answers", daemon=True))
            _watcher[0].start()
    try:
        yield
    finally:
        with _watch_lock:
            _pending.pop(key, None)


def _watch() -> None:
    while True:
        time.sleep(0.5)
        now = time.monotonic()
        with _watch_lock:
            due = [entry for entry in _pending.values() if now >= entry[1]]
            for entry in due:
                entry[1] = now + entry[5]
        for began, _, crm, method, url, _every in due:
            notify(f"waiting on {crm}: {method} {url} has not answered for {seconds(now - began)}")
