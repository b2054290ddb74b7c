"""The two ways a push looks into the CRM, as each connector entity declares them.

``read_back`` reads written records by id, so the link's base is exactly what a pull will see:
the entity's list call with the ids in a parameter (REST ``params``) or filter (RPC ``filter``),
``{ids}`` standing for a chunk of ``size`` ids; or a call of its own (``path``, ``method``, ``body``
with ``{ids}`` or ``{id_items}``, ``records``), e.g. a batch read.

``recover`` finds the record a create made when its answer was lost (a timeout, a dropped answer):
``by_key`` looks for the idempotency key the create wrote into the record (``{keys}`` in the filter,
``key_field`` in the record); ``by_content`` lists the records changed since shortly before the
earliest lost call (``{cursor}``, written in ``format``: the connector's timestamp format) and
gives each op the unlinked record holding exactly the values it wrote. A lookup the CRM refuses
(any 4xx) is an error that stops and reports: "nothing found" would send the create again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from crmsync.errors import CrmError
from crmsync.phpquery import build_query
from crmsync.read.links import attach_rest_links, rest_links
from crmsync.waiting import notify, seconds

from .outbox import Op
from .writer import fill
from .writers_rest import dig

if TYPE_CHECKING:
    from .writer import Writer

WINDOW_SECONDS = 900  # how far before a lost create's send we look for it (recover.window_seconds)


def format_instant(instant: dt.datetime, fmt: str) -> str:
    """``instant`` written the way the CRM writes its timestamps (``incremental.format``)."""
    utc = instant.astimezone(dt.timezone.utc)
    if fmt == "unix_seconds":
        return str(int(utc.timestamp()))
    if fmt == "unix_ms":
        return str(int(utc.timestamp() * 1000))
    if fmt == "rfc3339":
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return utc.isoformat()  # iso8601: with its offset


class Lookup:
    def __init__(self, owner: Writer) -> None:
        self.owner = owner
        self.spec = owner.spec

    # -- the declarations ----------------------------------------------------------------------
    def _block(self, name: str) -> dict[str, Any]:
        block = self.spec.get(name)
        if not block:
            what = "read written records back" if name == "read_back" else "find a create whose answer was lost"
            raise CrmError(f"the connector's {self.owner.entity} entity declares no {name!r}: crmsync cannot "
                           f"{what}. Add {name} to connectors/<crm>.yaml (see `crmsync validate`).")
        return block

    def _rpc(self) -> bool:
        return "path" not in self.spec["list"]

    def rpc_filter(self, name: str) -> dict[str, Any] | None:
        block = self.spec.get(name) or {}
        return block.get("filter") if self._rpc() else None

    def keyed(self) -> bool:
        return (self.spec.get("recover") or {}).get("type") == "by_key"

    def ids_filter(self, ids: list[str]) -> dict[str, Any]:
        return fill(self._block("read_back").get("filter") or {}, {"ids": ids})

    def keys_filter(self, keys: list[str]) -> dict[str, Any]:
        return fill(self._block("recover").get("filter") or {}, {"keys": keys})

    def rpc_list_call(self, flt: dict[str, Any]) -> str:
        listing = self.spec["list"]
        id_field = listing.get("id_field", "ID")
        params = {"filter": flt, "order": {id_field: "ASC"}, "select": listing.get("select", ["*"]),
                  **(self.owner.paginator.get("params") or {})}  # as the keyset walk asks (e.g. no COUNT)
        return f"{listing['method']}?{build_query(params)}"

    # -- read back -----------------------------------------------------------------------------
    def fetch(self, remote_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not remote_ids:
            return {}
        block = self._block("read_back")
        size = int(block.get("size") or self.owner.paginator.get("size") or 50)
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(remote_ids), size):
            chunk = remote_ids[start:start + size]
            values = {"ids": chunk, "id_items": [fill(block.get("id_item", "{id}"), {"id": i}) for i in chunk]}
            for raw in self._walk(block, values, expected=len(set(chunk))):
                out[self.owner.record_id(raw)] = raw
        links = rest_links(self.spec.get("links"))
        if links and out:  # what a pull will see includes the links the listing cannot return
            listing = self.spec["list"]
            attach_rest_links(self.owner.session, self.owner.base_url, list(out.values()), links,
                              listing.get("record_id_field") or listing.get("id_field") or "id")
        return out

    # -- lost creates --------------------------------------------------------------------------
    def find_created(self, ops: list[Op], matches: Callable[[dict[str, Any], Op], bool]) -> dict[str, str]:
        """``op_id`` → remote id of the records lost creates made, for the ops found; a record is
        given to one op only."""
        if not ops:
            return {}
        block = self._block("recover")
        kind = block.get("type", "by_content")
        if kind == "by_key":
            return self._by_key(block, ops)
        if kind != "by_content":
            raise CrmError(f"{self.owner.entity}.recover.type {kind!r} is not one of: by_key, by_content")
        window = dt.timedelta(seconds=float(block.get("window_seconds", WINDOW_SECONDS)))
        since = min(op.sent_at or dt.datetime.now(dt.timezone.utc) for op in ops) - window
        fmt = block.get("format") or (self.spec.get("incremental") or {}).get("format") or "iso8601"
        found: dict[str, str] = {}
        self._by_content(block, ops, matches, format_instant(since, fmt), found)
        # A CRM that indexes new records for its search a while after the write: "not found" only
        # counts once that while has passed since the last lost call, or the create would be made twice.
        delay = float(block.get("index_delay_seconds", 0))
        latest = max(op.sent_at or dt.datetime.now(dt.timezone.utc) for op in ops)
        wait = (latest + dt.timedelta(seconds=delay) - dt.datetime.now(dt.timezone.utc)).total_seconds()
        if len(found) < len(ops) and wait > 0:
            notify(f"{self.owner.session.crm_title} shows new records in its search up to {seconds(delay)} after "
                   f"they are written: looking for {len(ops) - len(found)} lost create(s) again in {seconds(wait)}")
            time.sleep(wait)
            self._by_content(block, ops, matches, format_instant(since, fmt), found)
        return found

    def _by_content(self, block: dict[str, Any], ops: list[Op], matches: Callable[[dict[str, Any], Op], bool],
                    cursor: str, found: dict[str, str]) -> None:
        for raw in self._walk(block, {"cursor": cursor}):
            rid = self.owner.record_id(raw)
            if rid in found.values():
                continue
            op = next((o for o in ops if o.op_id not in found and matches(raw, o)), None)
            if op is not None:
                found[op.op_id] = rid
                if len(found) == len(ops):
                    return

    def _by_key(self, block: dict[str, Any], ops: list[Op]) -> dict[str, str]:
        by_key = {op.idempotency_key: op.op_id for op in ops}
        key_field = block.get("key_field")
        if not key_field:
            raise CrmError(f"{self.owner.entity}.recover (by_key) needs key_field: the record field that holds the key")
        keys = list(by_key)
        size = int(block.get("size", 50))
        found: dict[str, str] = {}
        for start in range(0, len(keys), size):
            for raw in self._walk(block, {"keys": keys[start:start + size]}):
                op_id = by_key.get(str(dig(raw, key_field)))
                if op_id is not None and op_id not in found:
                    found[op_id] = self.owner.record_id(raw)
        return found

    # -- listing ----------------------------------------------------------------------------------
    def _walk(self, block: dict[str, Any], values: dict[str, Any], expected: int | None = None
              ) -> Iterator[dict[str, Any]]:
        if "path" in block:
            yield from self._call(block, values, expected)
        elif self._rpc():
            yield from self._list({"filter": fill(block.get("filter") or {}, values)}, expected)
        else:
            yield from self._list(fill(block.get("params") or {}, values), expected)

    def _fail(self, response: Any, what: str) -> CrmError:
        return CrmError(f"{self.owner.session.crm_title} refused to {what} ({response.status_code}: "
                        f"{self.owner.session.crm_message(response)}); nothing was sent again. Check the connector's "
                        f"{self.owner.entity} read_back / recover settings.")

    def _where(self) -> str:
        return f"{self.owner.session.crm_title}, {self.owner.entity} (reading back what a push wrote)"

    def _list(self, extra: dict[str, Any], expected: int | None) -> Iterator[dict[str, Any]]:
        """The entity's list call with ``extra`` parameters, walked by its paginator (crmsync.read.paginators).
        ``expected``: how many records the filter can match at most (the ids asked for); once that
        many came the listing is complete, where a full page would otherwise cost one more request.
        A refused page is an error (the paginators stop on any answer but a page)."""
        from crmsync.read.calls import call_for, paginator_for
        from crmsync.read.links import attach_links
        from crmsync.read.paginators import KeysetBatch, records_at, walk
        from crmsync.read.storable import loads_exact

        listing = self.spec["list"]
        params = dict(extra)
        if "select" in listing:
            params["select"] = listing["select"]
        if "filter" in extra:
            params["filter"] = {**((listing.get("params") or {}).get("filter") or {}), **extra["filter"]}
        call = call_for(listing, self.owner.base_url, where=self._where(), params=params)
        paginator = paginator_for({"paginator": self.owner.paginator}, listing)
        if isinstance(paginator, KeysetBatch):  # a lookup asks for few records: a few pages per batch will do
            paginator = KeysetBatch({**paginator.block, "commands_per_batch": min(paginator.per_batch, 5)})
        seen = 0
        group: list[list[dict[str, Any]]] = []
        for _, page in walk(paginator, self.owner.session, call):
            rows = page if isinstance(page, list) else records_at(loads_exact(page), call.records)
            if self.spec.get("links") and isinstance(paginator, KeysetBatch):
                group.append(rows)  # linked ids come a batch call per group of pages, after the listing
                continue
            yield from rows
            seen += len(rows)
            if expected is not None and seen >= expected:
                return
        if group:
            attach_links(self.owner.session, self.owner.base_url, group, self.spec["links"], call.id_field,
                         paginator.block)
            for rows in group:
                yield from rows

    def _call(self, block: dict[str, Any], values: dict[str, Any], expected: int | None
              ) -> Iterator[dict[str, Any]]:
        """A call of the block's own: ``body`` (POST) or ``params`` (GET), records at ``records``; walked
        by the block's ``paginator`` when it has one (a search), else one request that may answer for
        part of what it asked (``partial_status``, e.g. a batch read naming the ids it could not find)."""
        from crmsync.read.calls import call_for
        from crmsync.read.paginators import make_paginator, records_at, walk
        from crmsync.read.storable import loads_exact

        method = str(block.get("method", "POST" if "body" in block else "GET")).upper()
        payload = fill(block.get("body") if "body" in block else block.get("params") or {}, values)
        call = call_for({"path": block["path"], "method": method}, self.owner.base_url, where=self._where(),
                        params=payload, records=block.get("records", "results"))
        if block.get("paginator"):
            for _, page in walk(make_paginator(block["paginator"]), self.owner.session, call):
                yield from page if isinstance(page, list) else records_at(loads_exact(page), call.records)
            return
        response = (self.owner.session.get(call.url, params=payload) if method == "GET" else
                    self.owner.session.request(method, call.url, json=payload, idempotent=True))  # a read
        if response.status_code >= 300 and response.status_code not in set(block.get("partial_status") or [207]):
            raise self._fail(response, f"look up {self.owner.entity} records")
        yield from records_at(loads_exact(response.content), call.records) if response.content else []
