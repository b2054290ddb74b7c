"""The API's way into the store: between runs, never beside one.

A run's child holds DuckDB's write lock on the store for most of its work, and dlt's load fails
outright (it does not wait) if another process has the file open. So a route takes the runner's
``store_lock`` for its short read or write. A read that would wait for a run in flight answers
with its last result instead, marked stale (``X-Crmsync-Stale``), so the page and scripts stay
responsive; with nothing cached yet it waits for the run. A write waits for the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request, Response

from crmsync.serve.errors import ApiError

T = TypeVar("T")
QUICK = 1.0        # seconds a read waits before it answers from the cache
PATIENT = 300.0    # seconds a write (or a read with nothing cached) waits for a run to end
_cache: dict[tuple[int, str], Any] = {}
_cache_lock = threading.Lock()


def read(request: Request, response: Response, work: Callable[[], T]) -> T:
    lock = request.app.state.runner.store_lock
    key = (id(request.app), str(request.url.path) + "?" + str(request.url.query))
    if lock.acquire(timeout=QUICK):
        try:
            value = work()
        finally:
            lock.release()
        with _cache_lock:
            _cache[key] = value
        return value
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        response.headers["X-Crmsync-Stale"] = "a run is writing the store; this is the answer from before it"
        return cached
    return write(request, work)


def write(request: Request, work: Callable[[], T]) -> T:
    lock = request.app.state.runner.store_lock
    if not lock.acquire(timeout=PATIENT):
        raise ApiError(409, "busy", f"a run has been writing the store for over {PATIENT:.0f} s; try again later")
    try:
        return work()
    finally:
        lock.release()
