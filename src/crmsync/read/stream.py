"""Pages fetched ahead by a thread of their own, so a read goes on while the engine works.

At a CRM's rate limit most of a read is waiting: AmoCRM allows 7 requests a second, and mapping and
applying 250 records takes the engine a fraction of that. A :class:`PageStream` keeps requesting
pages (through the connection's session, so pacing, retries and error rules are the usual ones)
into a bounded queue while the pull loads and applies the pages already here
(:func:`crmsync.read.run.read_connection` works in rounds). The queue holds at most about one round of
pages and at most :data:`QUEUE_BYTES` of pages (a parsed page weighs five times its body,
:class:`~crmsync.read.storable.ParsedPage`): memory stays flat when the engine is the slower
side, as the thread then waits for room.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_PAGE, _END, _ERROR = "page", "end", "error"
SWITCH_SECONDS = 0.001  # how long the engine may hold the GIL while a fetch thread waits for it
# Pages waiting in the queue, at most (a page over, so one page larger than this still passes), by what
# they hold in memory (:func:`_size`). Unpaced, the fetch thread is several times faster than the engine
# and the queue stays full: a round of 81 pages of 250 records (~28 MB of bodies) sat there beside the
# round dlt was loading. 16 MB is ~10 parsed pages: at a paced 7 pages a second, what arrives while the
# engine applies a round (~1.5 s). At 8 MB (~5 parsed pages) the paced fetch thread waited for room and lost
# its slots: a throttled 100k pull took 61.4-61.6 s (92.7-93.1 % of its ceiling), at 16 MB 60.0 s (95.3 %);
# the unpaced pull's peak RSS stayed 465 MB (451-460 at 8 MB).
QUEUE_BYTES = 16 * 2**20


@contextmanager
def fetching_beside_the_engine() -> Iterator[None]:
    """While pages stream in, the main thread hands the GIL over every millisecond (Python's
    default: 5 ms). The fetch thread needs it briefly after each socket read (a 350 KB page is
    dozens of them) and waited behind the engine's mapping for up to 5 ms each time: an unpaced
    100k-record pull spent 24–29 s waiting for pages instead of 17–19 s (66–69 s in all, was 76–81)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_SECONDS))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class PageStream:
    """``pages``: (records in the page, the page) pairs; :meth:`take` hands out the pages."""

    def __init__(self, pages: Iterator[tuple[int, Any]], depth: int = 40, max_bytes: int = QUEUE_BYTES) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self.max_bytes = max_bytes
        self.queued_bytes = 0  # of the bodies in the queue (records already parsed count as 0: see _size)
        self._room = threading.Condition()
        self.done = False  # every page has been handed out
        self._thread = threading.Thread(target=self._fetch, args=(pages,), name="crmsync-pages", daemon=True)
        self._thread.start()

    def take(self, least: int, most: int, grace: float = 0.05) -> Iterator[Any]:
        """This round's pages: waits for ``least`` records (or the end of the listing), then goes on
        while pages keep coming (each within ``grace`` seconds), up to ``most`` (a page over at most).
        Paced by a rate limit, pages come slower than that and a round ends at ``least``; unpaced,
        they keep coming and a round is ``most`` long."""
        taken = 0
        while not self.done and taken < most:
            try:
                kind, item = self._queue.get(timeout=None if taken < least else grace)
            except queue.Empty:
                return
            if kind == _END:
                self.done = True
            elif kind == _ERROR:
                self.done = True
                raise item
            else:
                records, page = item
                self._taken(page)
                taken += records
                yield page

    def close(self) -> None:
        """Stop fetching. A request already on the wire is not waited for (a run that failed should
        say so now, not after the CRM's read timeout); its daemon thread ends with it."""
        self._stop.set()
        with self._room:
            self._room.notify_all()
        self._thread.join(timeout=2)

    def _taken(self, page: Any) -> None:
        with self._room:
            self.queued_bytes -= _size(page)
            self._room.notify_all()

    def _wait_for_room(self, size: int) -> bool:
        """Wait until ``size`` more bytes fit (or the queue holds no bodies: one page always passes)."""
        with self._room:
            while self.queued_bytes and self.queued_bytes + size > self.max_bytes:
                if self._stop.is_set():
                    return False
                self._room.wait(timeout=0.2)
            self.queued_bytes += size
            return True

    def _fetch(self, pages: Iterator[tuple[int, Any]]) -> None:
        try:
            for page in pages:
                size = _size(page[1])
                if not self._wait_for_room(size) or not self._put((_PAGE, page)):
                    return
            self._put((_END, None))
        except BaseException as exc:  # the reader re-raises it in the pulling thread
            self._put((_ERROR, exc))

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False


def _size(page: Any) -> int:
    """A body's length, or what a parsed page holds (its weight); the records of a batch's pages are
    bounded by the queue's depth alone."""
    if isinstance(page, (bytes, bytearray, str)):
        return len(page)
    return getattr(page, "weight", 0)
