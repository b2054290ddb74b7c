"""Paginators: how a list call walks through its pages, chosen by the connector's ``paginator.type``.

Every read of a list goes through one of these — entity listings, metadata catalogs, deletion feeds
and id scans — so a CRM's paging is said once, in YAML. Built-ins register here exactly as a plugin
would (:func:`register_paginator`); the keys of each type are documented in the connector schema.

A paginator turns one :class:`Call` into pages, each ``(records in it, the page)``: the page is the
list of its records (parsed once, as the walk needs them to find the next page: a
:class:`~crmsync.read.storable.ParsedPage`, or, where one response holds several pages (a batch
envelope), a plain list), or a response body as bytes, which the reader parses. :func:`guarded` stops a walk whose page
repeats the one before it — an API that ignores the page parameter would otherwise be read forever.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from crmsync.errors import CrmError
from crmsync.phpquery import build_query

from .storable import loads_exact, parsed_page, scanned

Page = tuple[int, Any]
MAX_PAGES = 1_000_000  # a last resort beside the repeat guard: no listing is this long


@dataclass(frozen=True)
class Call:
    """One list request: ``url``; ``verb`` GET (``params`` in the query) or POST (``params`` as the
    JSON body); ``records``: the dotted path of the records in an answer; ``where``: who asks, for errors."""

    url: str
    verb: str = "GET"
    params: dict[str, Any] = field(default_factory=dict)
    records: str | None = None
    where: str = "a list call"
    id_field: str = "id"                         # the record id, as answers spell it
    filter_id_field: str | None = None           # the id as a filter names it (keyset paging), if it differs

    def with_params(self, extra: dict[str, Any]) -> Call:
        return replace(self, params={**self.params, **extra})


def send(session: Any, call: Call) -> Any:
    """The response to ``call`` as it stands (paging parameters already in ``params``)."""
    if call.verb == "GET":
        return session.get(call.url, params=call.params)
    return session.request(call.verb, call.url, json=call.params, idempotent=True)  # a read, whatever the verb


def records_at(body: Any, path: str | None) -> list[dict[str, Any]]:
    """The records an answer holds at the dotted ``path`` ([] if none; the body itself if it is a list)."""
    for part in [p for p in str(path or "").split(".") if p]:
        body = body.get(part) if isinstance(body, dict) else None
    return body if isinstance(body, list) else []


def value_at(body: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        body = body.get(part) if isinstance(body, dict) else None
    return body


class Paginator:
    """A paginator type: built from its YAML block, it walks :class:`Call` s. ``size``: records per
    full page (None: the CRM decides), so a reader can tell "there may be more" from a page."""

    size: int | None = None
    guards_itself = False  # True: its pages pass a RepeatGuard already (walk() need not parse them again)

    def __init__(self, block: dict[str, Any]) -> None:
        self.block = block

    def pages(self, session: Any, call: Call) -> Iterator[Page]:  # pragma: no cover - an interface
        raise NotImplementedError


class _HttpPages(Paginator):
    """The paginators that ask one page per request and read what comes next from the answer."""

    def __init__(self, block: dict[str, Any]) -> None:
        super().__init__(block)
        self.size = block.get("size")
        self.size_param = block.get("size_param")
        self.empty_status = block.get("empty_status")

    def first(self, call: Call) -> Call:
        return call.with_params({self.size_param: self.size}) if self.size and self.size_param else call

    guards_itself = True

    def pages(self, session: Any, call: Call) -> Iterator[Page]:
        request: Call | None = self.first(call)
        guard = RepeatGuard(call)
        while request is not None:
            response = send(session, request)
            if (self.empty_status and response.status_code == self.empty_status) or not response.content:
                return
            if response.status_code >= 300:
                raise CrmError(f"{call.where}: the CRM answered {response.status_code}: {response.text[:300]}")
            page = scanned(response.content)  # once, here: the reader takes the scan with the records
            body = loads_exact(page)
            records = records_at(body, call.records)
            if not records:
                return
            guard.check(records)
            yield len(records), parsed_page(records, page)
            if self.size and len(records) < self.size and self.short_page_ends:
                return
            request = self.next(request, body, records, response)

    short_page_ends = True  # a page shorter than ``size`` is the last one (no request for an empty page)

    def next(self, request: Call, body: Any, records: list[dict[str, Any]], response: Any) -> Call | None:
        raise NotImplementedError  # pragma: no cover


class PageNumber(_HttpPages):
    def first(self, call: Call) -> Call:
        return super().first(call).with_params({self.block.get("page_param", "page"): self.block.get("first_page", 1)})

    def next(self, request: Call, body: Any, records: list[dict[str, Any]], response: Any) -> Call | None:
        key = self.block.get("page_param", "page")
        return request.with_params({key: int(request.params[key]) + 1})


class Offset(_HttpPages):
    def first(self, call: Call) -> Call:
        return super().first(call).with_params({self.block.get("offset_param", "offset"): 0})

    def next(self, request: Call, body: Any, records: list[dict[str, Any]], response: Any) -> Call | None:
        key = self.block.get("offset_param", "offset")
        return request.with_params({key: int(request.params[key]) + len(records)})


class CursorPages(_HttpPages):
    """The next page's cursor is in the answer (``cursor_path``); it is sent as ``cursor_param``. With
    ``max_results`` (a search window), the walk ends there: the reader starts a new one from its cursor."""

    short_page_ends = False  # the answer says whether there is more

    def next(self, request: Call, body: Any, records: list[dict[str, Any]], response: Any) -> Call | None:
        token = value_at(body, self.block["cursor_path"])
        if token in (None, ""):
            return None
        window = self.block.get("max_results")
        if window and _isint(token) and int(token) >= int(window):
            raise WindowEnd(request)
        return request.with_params({self.block["cursor_param"]: token})


class WindowEnd(Exception):
    """A cursor walk reached the CRM's result window: the rest needs a new query."""

    def __init__(self, call: Call) -> None:
        super().__init__(call.where)
        self.call = call


class NextUrl(_HttpPages):
    """The answer names the next page's URL: at ``next_path`` in the body, or in the ``Link`` header
    (``rel="next"``) without one. The URL carries every parameter itself."""

    short_page_ends = False

    def next(self, request: Call, body: Any, records: list[dict[str, Any]], response: Any) -> Call | None:
        if self.block.get("next_path"):
            url = value_at(body, self.block["next_path"])
        else:
            url = _link_next(response.headers.get("Link") or "")
        if not url:
            return None
        return replace(request, url=str(url), params={}) if request.verb == "GET" else replace(request, url=str(url))


_LINK = re.compile(r'<([^>]*)>\s*;[^,]*rel="?next"?', re.IGNORECASE)


def _link_next(header: str) -> str | None:
    m = _LINK.search(header)
    return m.group(1) if m else None


class KeysetBatch(Paginator):
    """Keyset pages packed into one batch request: command k asks for the ``size`` records after the
    last id of command k-1, by a reference the CRM resolves inside the batch (``reference``). The
    first page shorter than ``size`` ends the walk. The call is an RPC method (``Call.url`` ends in
    it); ``params`` hold its filter and select."""

    def __init__(self, block: dict[str, Any]) -> None:
        super().__init__(block)
        self.size = int(block.get("page_size", 50))
        self.per_batch = int(block.get("commands_per_batch", 50))

    guards_itself = True

    def pages(self, session: Any, call: Call) -> Iterator[Page]:
        b = self.block
        base, _, method = call.url.rstrip("/").rpartition("/")
        batch_url = f"{base}/{b['batch_method']}"
        filter_id = call.filter_id_field or call.id_field
        inner = f"[{call.records}]" if call.records else ""
        last_id: Any = 0
        guard = RepeatGuard(call)
        while True:
            commands = {}
            for k in range(self.per_batch):
                after = b["reference"].format(previous=f"c{k - 1}", records=inner, last=self.size - 1,
                                              id=call.id_field) if k else str(last_id)
                params = {**call.params, "filter": {**(call.params.get("filter") or {}), f">{filter_id}": after},
                          "order": {filter_id: "ASC"}, **(b.get("params") or {})}
                commands[f"c{k}"] = f"{method}?{build_query(params)}"
            response = session.post(batch_url, json={**(b.get("body") or {}), b["commands_key"]: commands},
                                    idempotent=True)  # list calls
            if response.status_code >= 400:
                raise CrmError(f"{call.where}: the CRM refused the batch read of {method}: {response.text[:300]}")
            body = loads_exact(response.content)
            results = as_map(value_at(body, b["results_path"]))
            errors = as_map(value_at(body, b["errors_path"]))
            for k in range(self.per_batch):
                key = f"c{k}"
                if key in errors:
                    if k == 0:
                        err = errors[key]
                        raise CrmError(f"{call.where}: the CRM refused {method}: {err}")
                    return
                rows = results.get(key) or []
                if call.records and isinstance(rows, dict):
                    rows = rows.get(call.records) or []
                if rows:
                    guard.check(rows)
                    yield len(rows), rows
                    last_id = rows[-1][call.id_field]
                if len(rows) < self.size:
                    return


def as_map(value: Any) -> dict[str, Any]:
    """A batch's results by command name; a PHP back end serialises an empty map as ``[]`` and a
    0..n-1 keyed map as a list."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


def _isint(value: Any) -> bool:
    return isinstance(value, int) or (isinstance(value, str) and value.isdigit())


# -- the registry ---------------------------------------------------------------------------------------

PaginatorFactory = Callable[[dict[str, Any]], Paginator]
_PAGINATORS: dict[str, PaginatorFactory] = {}


def register_paginator(name: str, factory: PaginatorFactory) -> None:
    """Make ``paginator.type: name`` readable. Its keys must also be known to validation: the
    declarative types are in the connector schema, a plugin's are registered with
    :func:`crmsync.specs.registry.register_block_type`."""
    _PAGINATORS[name] = factory


def paginator_types() -> list[str]:
    return sorted(_PAGINATORS)


def make_paginator(block: dict[str, Any]) -> Paginator:
    try:
        factory = _PAGINATORS[block["type"]]
    except KeyError:
        raise ValueError(f"paginator.type {block.get('type')!r} has no reader "
                         f"(known: {', '.join(paginator_types())})") from None
    return factory(block)


def walk(paginator: Paginator, session: Any, call: Call) -> Iterator[Page]:
    """Every page of ``call``, stopped with a clear error when one repeats the page before it."""
    pages = paginator.pages(session, call)
    return pages if paginator.guards_itself else _guarded(pages, call)


class RepeatGuard:
    """Remembers the last page's size and first and last ids: an API that ignores the paging
    parameters answers the same page again, and the walk must stop and say so."""

    def __init__(self, call: Call) -> None:
        self.call, self.number, self.before = call, 0, None

    def check(self, rows: list[Any]) -> None:
        self.number += 1
        if self.number > MAX_PAGES:
            raise CrmError(f"{self.call.where}: more than {MAX_PAGES} pages; stopping")
        seen = _fingerprint(rows, self.call)
        if seen is not None and seen == self.before:
            raise CrmError(f"{self.call.where}: page {self.number} repeats page {self.number - 1} ({len(rows)} "
                           f"records, the same ids): the CRM ignores the paging parameters; stopping instead of "
                           f"reading forever. Check the connector's paginator.")
        self.before = seen


def _guarded(pages: Iterator[Page], call: Call) -> Iterator[Page]:
    guard = RepeatGuard(call)
    for count, page in pages:
        guard.check(records_at(loads_exact(page), call.records) if isinstance(page, (bytes, str)) else page)
        yield count, page


def _fingerprint(rows: list[Any], call: Call) -> Any:
    if not rows:
        return None
    first, last = rows[0], rows[-1]
    if isinstance(first, dict) and call.id_field in first:
        return len(rows), str(first.get(call.id_field)), str(last.get(call.id_field))
    return len(rows), repr(first)[:500], repr(last)[:500]


for _name, _factory in (("page_number", PageNumber), ("offset", Offset), ("cursor", CursorPages),
                        ("next_url", NextUrl), ("keyset_batch", KeysetBatch)):
    register_paginator(_name, _factory)
