"""Read-ahead: fetch the next page while the caller is still busy with the current one.

dlt's REST client asks for page n+1 only after the rest of the pipeline has taken page n, so at a
CRM's rate limit each page's processing sits between two requests and a read reaches a fraction of
the ceiling. A paginator that already knows the next request hands it to :meth:`ReadAhead.start`;
one background thread sends it (through the session's pacing, retries and error rules), and when the
client then sends that same request, :meth:`ReadAhead.take` gives it the answer instead of a second
HTTP call. One page ahead is enough to keep requests back to back; the answer is held only until the
client asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests

Key = tuple[str | None, str | None, Any]


def key_of(request: requests.PreparedRequest) -> Key:
    return request.method, request.url, request.body


class ReadAhead:
    """Answers being fetched ahead, by request (one per paginated read in progress)."""

    LIMIT = 8  # reads in progress at once; past that the oldest read-ahead is dropped

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[Key, Future[Any]] = {}
        self.used = 0    # answers the client took
        self.wasted = 0  # answers fetched and never asked for

    def start(self, request: requests.PreparedRequest, fetch: Callable[[], Any]) -> None:
        key = key_of(request)
        if key in self._pending:
            return
        while len(self._pending) >= self.LIMIT:
            self._drop(next(iter(self._pending)))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmsync-read-ahead")
        self._pending[key] = self._pool.submit(fetch)

    def take(self, request: requests.PreparedRequest) -> Future[Any] | None:
        """The fetch under way for exactly this request, if any (it is the caller's now)."""
        future = self._pending.pop(key_of(request), None)
        if future is not None:
            self.used += 1
        return future

    def close(self) -> None:
        for key in list(self._pending):
            self._drop(key)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _drop(self, key: Key) -> None:
        future = self._pending.pop(key)
        self.wasted += 1
        if not future.cancel():
            future.exception()  # an in-flight request ends before anything else is sent
