"""REST connectors (AmoCRM-style: a path per entity, numbered pages, records under a JSON path).

The pages of one read come from a :class:`~crmsync.read.stream.PageStream`, so the read goes on at
the CRM's pace while the pull loads and applies what has arrived: each dlt run ("round") takes the
pages there are, and the read is done when the stream is. The cursor is dlt's resource state, in the
place dlt's own incremental keeps it (``incremental.<cursor>.last_value``), and it moves only when
the whole listing has been read: a run that stops half-way reads it again from the old cursor, and
what it had already loaded compares as unchanged. The fingerprints of the records in the cursor's
last second are kept with it, so the next run drops those it reads again unchanged (the filter is
inclusive) and keeps a record that changed again within that second.

Records are ordered by id, not by the cursor: with ``updated_at >= cursor`` as the filter, an id
order is stable while records change during a run, so page pagination can neither skip nor repeat a
record. The filter is inclusive and ``overlap_seconds`` reads further back; the rows read again
merge onto themselves in the raw table, and apply sees their content unchanged.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

from crmsync.errors import CrmError
from crmsync.http.pacing import Unlimited

from .batches import RoundBatches
from .calls import call_for, paginator_for, rendered
from .columns import CURSOR_COLUMN, ROWHASH_COLUMN, row_hash
from .links import attach_all_rest_links, attach_links, rest_links, rpc_links
from .paginators import Call, KeysetBatch, Paginator, WindowEnd, records_at, value_at, walk
from .storable import loads_exact, page_scan, storable
from .stream import PageStream

__all__ = ["PagedRead", "cursor_value", "listing_pages", "records_at", "round_records"]

INITIAL = {"unix_seconds": 0, "iso8601": "1970-01-01T00:00:00+00:00"}
# Records per dlt run ("round"). A run has a fixed cost (~0.6 s of CPU here). Paced by a rate
# limit, the first round waits for ROUND_FIRST records and later ones for ROUND_LEAST (or the end
# of the listing), each taking what else keeps arriving, up to ROUND_RECORDS: the engine applies
# while the CRM makes it wait. A small first round starts the engine early (a 10k read at AmoCRM's
# limit, 4 alternating runs each: 8.48 -> 8.08 s on average); later rounds stay larger, as more
# runs cost more than they overlap (a 30k read: the same either way). Unpaced there is no waiting
# to fill, and a round is ROUND_RECORDS long. Either way a read's memory no longer grows with its size.
ROUND_RECORDS = 20_000
ROUND_FIRST = 2_500
ROUND_LEAST = 5_000
ROUND_SETTING = "CRMSYNC_READ_ROUND_RECORDS"


def round_records() -> int:
    from crmsync.errors import UserError

    text = os.environ.get(ROUND_SETTING, str(ROUND_RECORDS))
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"{ROUND_SETTING}={text!r} is not a positive number of records (default {ROUND_RECORDS})")
    return int(text)


def listing_call(session: Any, base_url: str, spec: dict[str, Any], connector: dict[str, Any], since: Any,
                 *, entity: str = "") -> tuple[Call, Paginator, dict[str, Any]]:
    """The call that lists an entity's records changed since ``since`` (all of them on a first read),
    its paginator, and the block it comes from: ``incremental.request`` when the connector lists
    changes through another call (a search endpoint) and there is a cursor, else ``list`` with the
    incremental ``params`` / ``filter``."""
    listing, inc = spec["list"], spec.get("incremental") or {}
    where = f"connector {connector.get('name')}, entity {entity or listing.get('path') or listing.get('method')}"
    first = since is None or since == INITIAL.get(inc.get("format", "unix_seconds"))
    if inc.get("request") and not first:
        block = {**inc["request"], "params": rendered(inc["request"].get("params") or {}, since)}
        return call_for(block, base_url, where=where), paginator_for(connector, block), block
    extra: dict[str, Any] = {}
    if "select" in listing:
        extra["select"] = listing["select"]
    if inc and since is not None:
        extra.update(rendered(inc.get("params") or {}, since))
        if inc.get("filter"):
            extra["filter"] = {**(listing.get("params") or {}).get("filter", {}), **rendered(inc["filter"], since)}
    return call_for(listing, base_url, where=where, params=extra), paginator_for(connector, listing), listing


def listing_pages(session: Any, base_url: str, spec: dict[str, Any], connector: dict[str, Any], since: Any,
                  *, entity: str = "", links: bool = True) -> Iterator[tuple[int, Any]]:
    """Every page of an entity's listing changed since ``since`` (all of it without a cursor), as
    (records in it, the page), walked by its paginator (:mod:`.paginators`), which parsed each page
    once to find the next one: a page is handed on as its records.

    ``links``: add each record's linked ids where the entity declares ``links`` (a probe does not).
    """
    call, paginator, block = listing_call(session, base_url, spec, connector, since, entity=entity)
    rest = rest_links(spec.get("links")) if links else []
    # Unpaced, the engine is the slower side and the fetching thread has time to spare; paced by a rate
    # limit it is the other way round, and the engine fingerprints the records (PagedRead._fresh).
    hashed = _hashed if isinstance(getattr(session, "pacer", None), Unlimited) else iter
    if block is not spec["list"]:
        pages = hashed(_windows(session, base_url, spec, connector, since, entity))
        return _with_rest_links(pages, call, rest, session, base_url) if rest else pages
    pages = walk(paginator, session, call)
    if not isinstance(paginator, KeysetBatch):
        pages = hashed(pages)
        return _with_rest_links(pages, call, rest, session, base_url) if rest else pages
    return _fingerprinted(pages, call, rpc_links(spec.get("links")) if links else None, session, base_url, connector,
                          paginator)


def _windows(session: Any, base_url: str, spec: dict[str, Any], connector: dict[str, Any], since: Any,
             entity: str) -> Iterator[tuple[int, Any]]:
    """A changes listing with a result window (HubSpot search: 10,000): ordered by the cursor, it is
    asked again from the newest cursor value read whenever the window is full. The records of that
    value are read twice and merge onto themselves."""
    inc = spec["incremental"]
    while True:
        call, paginator, _ = listing_call(session, base_url, spec, connector, since, entity=entity)
        last: Any = None
        try:
            for count, page in walk(paginator, session, call):
                last = page
                yield count, page
            return
        except WindowEnd:
            rows = last if isinstance(last, list) else records_at(loads_exact(last), call.records) \
                if last is not None else []
            newest = cursor_value(value_at(rows[-1], inc["cursor"]), inc.get("format", "unix_seconds")) \
                if rows else None
            if newest is None or str(newest) == str(since):
                raise CrmError(f"{call.where}: a whole result window of records changed at {since}; the CRM "
                               f"cannot page past it (narrow the listing, or read it again with --full-refresh)") \
                    from None
            since = newest


def _hashed(pages: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    """Pages whose records are parsed already, each record fingerprinted as it came (what
    :meth:`PagedRead._fresh` and the probe compare), by the thread that fetched and parsed the page, while
    the page is fresh in the CPU's caches: in an unpaced read the main thread did it (~5 % of its samples
    in a 100k read) while this thread mostly waited for room in the page queue. A body still to parse is
    fingerprinted by the reader once it has parsed it."""
    for count, page in pages:
        if isinstance(page, list):
            for row in page:
                if not row.get(ROWHASH_COLUMN):  # as PagedRead._fresh would have it
                    row[ROWHASH_COLUMN] = row_hash(row)
        yield count, page


def _with_rest_links(pages: Iterator[tuple[int, Any]], call: Any, links: list[dict[str, Any]], session: Any,
                     base_url: str) -> Iterator[tuple[int, Any]]:
    """Pages of records, fingerprinted as the listing sent them (as :func:`_fingerprinted`: a change
    of links alone is not a change of the record), then given their links by one more call."""
    for _, page in pages:
        rows = page if isinstance(page, list) else records_at(loads_exact(page), call.records)
        for row in rows:
            if ROWHASH_COLUMN not in row:  # a body parsed just now (:func:`_hashed` did the others)
                row[ROWHASH_COLUMN] = row_hash(row)
        attach_all_rest_links(session, base_url, rows, links, call.id_field)
        yield len(rows), rows


def _fingerprinted(pages: Iterator[tuple[int, Any]], call: Any, links: dict[str, Any] | None, session: Any,
                   base_url: str, connector: dict[str, Any], paginator: Any) -> Iterator[tuple[int, Any]]:
    """Pages of records (not bodies): fingerprinted as the list call sent them, like the probe sees
    them, then given their links, a batch call per group of pages."""
    group: list[list[dict[str, Any]]] = []

    def flush() -> Iterator[tuple[int, Any]]:
        if links:
            attach_links(session, base_url, group, links, call.id_field, paginator.block)
        for page in group:
            yield len(page), page
        group.clear()

    for _, page in pages:
        for row in page:
            row[ROWHASH_COLUMN] = row_hash(row)
        group.append(page)
        if len(group) == paginator.per_batch:
            yield from flush()
    yield from flush()


class PagedRead:
    """One entity's read, across the rounds of one pull."""

    def __init__(self, entity: str, spec: dict[str, Any], session: Any, base_url: str,
                 connector: dict[str, Any], round_records: int = ROUND_RECORDS) -> None:
        self.entity, self.spec = entity, spec
        self.session, self.base_url, self.connector = session, base_url, connector
        self.page_size = paginator_for(connector, spec["list"]).size or 50
        self.round_records = round_records
        self.inc = spec.get("incremental")
        self.stream: PageStream | None = None
        self.newest: Any = None  # the largest cursor value read so far
        self.boundary: set[str] = set()  # fingerprints of the records read with that value
        self._known: frozenset[str] = frozenset()  # the last run's boundary: re-read as the filter is inclusive
        self._last: Any = None
        self._checked = False  # the stream's starting point agreed with the state dlt handed the first round
        self._rounds = 0
        self._carried: list[dict[str, Any]] = []  # fresh rows that wait for the next round (:meth:`_once`)
        self.done = False

    def start(self, held: dict[str, Any]) -> None:
        """Start requesting pages from the cursor in ``held`` (this resource's dlt state): before dlt
        itself has started, from its state file (:mod:`.held_state`), or in the first round."""
        cursor = self._cursor_state(held)
        self.newest = self._last = cursor.get("last_value")
        self._known = frozenset(cursor.get("boundary") or [])
        self.boundary = set(self._known)
        since = _back(self.newest, (self.inc or {}).get("overlap_seconds") or 0, self._format) \
            if self.newest is not None else INITIAL[self._format]
        pages = listing_pages(self.session, self.base_url, self.spec, self.connector, since, entity=self.entity)
        self.stream = PageStream(pages, depth=self.round_records // int(self.page_size) + 1)

    def resource(self, dlt: Any) -> Any:
        """This round's dlt resource: the pages that have arrived since the last round."""
        def pages() -> Iterator[Any]:  # dlt wants a plain function, not a method
            yield from self._round(dlt.current.resource_state(), dlt)

        return dlt.resource(pages, name=self.entity, primary_key=self._key,
                            # A round never holds a record twice (_round), so dlt's merge need not number
                            # the staged rows by key to keep one (ROW_NUMBER() OVER (PARTITION BY id)
                            # over every column: ~0.3 s of a 20,000-record round's load).
                            write_disposition={"disposition": "merge", "strategy": "delete-insert",
                                               "deduplicated": True},
                            max_table_nesting=0,
                            # Parquet for the records a batch sends as such too: a raw table whose stored
                            # schema says jsonl (earlier releases) would have dlt turn Arrow tables back
                            # into rows and write JSON columns as quoted text.
                            file_format="parquet")

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()

    def _round(self, state: dict[str, Any], dlt: Any) -> Iterator[Any]:
        if not self._checked:
            self._checked = True
            held = self._cursor_state(state)
            if self.stream is not None and (held.get("last_value"), sorted(held.get("boundary") or [])) != \
                    (self._last, sorted(self._known)):
                self.close()  # dlt's state is not the file's (restored from the store, reset): its cursor rules
                self.stream = None
            if self.stream is None:
                self.start(state)
        assert self.stream is not None
        paced = not isinstance(getattr(self.session, "pacer", None), Unlimited)
        least = min(ROUND_LEAST if self._rounds else ROUND_FIRST, self.round_records) if paced else self.round_records
        self._rounds += 1
        batches = RoundBatches(self.entity, dlt)
        ids: set[Any] = set()  # the records this round holds, by key
        rows, self._carried = self._carried, []
        if rows:
            yield from batches.add(self._once(rows, ids))
        for body in self.stream.take(least, self.round_records) if not self._carried else ():
            if isinstance(body, list):  # records already: parsed by the fetch thread, or a batch's pages
                fresh = [row for row in body if self._fresh(row)]
                rows = fresh if getattr(body, "plain", False) else [storable(row) for row in fresh]
            else:
                long_digits, plain = page_scan(body)
                page = records_at(loads_exact(body, long_digits=long_digits), self.spec["list"].get("records"))
                fresh = [row for row in page if self._fresh(row)]
                rows = fresh if plain else [storable(row) for row in fresh]
            yield from batches.add(self._once(rows, ids))
            if self._carried:
                break
        yield from batches.flush()
        if self.stream.done and not self._carried:
            self.done = True
            if self.inc and self.newest is not None:
                self._cursor_state(state).update(last_value=self.newest, boundary=sorted(self.boundary))

    def _once(self, rows: list[dict[str, Any]], ids: set[Any]) -> list[dict[str, Any]]:
        """``rows`` up to the first whose record this round holds already (read again while the listing
        ran, or a window read from its last cursor value); that one and the rest wait for the next round
        (:attr:`_carried`), whose load then replaces the copy in this one: the later read wins."""
        key = self._key
        for at, row in enumerate(rows):
            rid = row.get(key)
            if not isinstance(rid, (int, str)):
                rid = repr(rid)  # a key no set takes (a list): compared by its text
            if rid in ids:
                self._carried = rows[at:]
                return rows[:at]
            ids.add(rid)
        return rows

    @property
    def _key(self) -> str:
        listing = self.spec["list"]
        return listing.get("record_id_field") or listing.get("id_field", "id")

    def _fresh(self, row: dict[str, Any]) -> bool:
        """Fingerprint ``row`` and move the cursor; False for a boundary record we already hold as it is."""
        digest = row.get(ROWHASH_COLUMN) or row_hash(row)  # as the listing sent it, like the probe sees it
        row[ROWHASH_COLUMN] = digest
        value = cursor_value(value_at(row, self.inc["cursor"]), self._format) if self.inc else None
        if self.inc and self._format != "unix_seconds":  # comparable whatever the CRM's date format
            row[CURSOR_COLUMN] = int(_instant(value).timestamp()) if value is not None else 0
        if value is None:  # none, or one no cursor can hold: the record loads, the mapping judges it
            return True
        if self._last is not None and _same(value, self._last, self._format) and digest in self._known:
            return False
        later = _later(self.newest, value, self._format)
        if self.newest is None or not _same(later, self.newest, self._format):
            self.newest, self.boundary = later, set()
        if _same(value, self.newest, self._format):
            self.boundary.add(digest)
        return True

    @property
    def _format(self) -> str:
        return (self.inc or {}).get("format", "unix_seconds")

    def _cursor_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """The cursor's place in a resource's state (dlt's incremental keeps it there too)."""
        if not self.inc:
            return {}
        return state.setdefault("incremental", {}).setdefault(self.inc["cursor"], {})


_YEAR_10000 = 253_402_300_800  # Unix seconds


def cursor_value(value: Any, fmt: str) -> Any:
    """``value`` if it is a modification time a cursor can move to, else None: a record whose
    time is malformed or absurd (year 10000, 1e30) must not carry the cursor past every later
    change."""
    if value is None or isinstance(value, bool):
        return None
    try:
        moment = int(value) if fmt == "unix_seconds" else _instant(value).timestamp()
    except (TypeError, ValueError, OverflowError):
        return None
    return value if 0 <= moment < _YEAR_10000 else None


def _later(current: Any, value: Any, fmt: str) -> Any:
    if current is None:
        return value
    if fmt == "unix_seconds":
        return max(int(current), int(value))
    return value if _instant(value) > _instant(current) else current


def _same(a: Any, b: Any, fmt: str) -> bool:
    return int(a) == int(b) if fmt == "unix_seconds" else _instant(a) == _instant(b)


def _back(value: Any, seconds: float, fmt: str) -> Any:
    if not seconds:
        return value
    if fmt == "unix_seconds":
        return int(value) - int(seconds)
    return (_instant(value) - dt.timedelta(seconds=seconds)).isoformat()


def _instant(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
