"""Writers: send outbox ops to a CRM in its own bulk shape and bring back one result per op.

Keyed by the connector's write style (a registry, like readers and transforms):

* ``array`` (AmoCRM): a JSON array of up to ``batch_size`` items, each with ``request_id`` = op
  id; results matched by the echoed ``request_id``. AmoCRM rejects a bulk write whole when one
  item is invalid (400 ``validation-errors``): only the listed items are rejected, the rest are
  sent again.
* ``bitrix24_batch`` (Bitrix24): one ``batch`` call with one sub-command per op (keys = op ids),
  ``halt=0``, each key answered in ``result`` or ``result_error``. Deletes go the same way.

An op refused because the CRM record no longer exists comes back with ``gone`` set: the caller
marks the record deleted instead of retrying it (crmsync.push.deletes). An op whose write may have
reached the CRM but whose answer was lost (:class:`~crmsync.http.session.OutcomeUnknown`) comes back
with ``unknown`` set and is never sent again as is: the caller finds out what the CRM holds first.

A writer also finds the records lost creates may have made (:meth:`Writer.find_created`) and reads
written records back (:meth:`Writer.fetch`) so the link's base is exactly what a pull will see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from crmsync.errors import CrmError
from crmsync.http.policy import crm_message
from crmsync.http.session import OutcomeUnknown
from crmsync.phpquery import build_query
from crmsync.read.bitrix_batch import _as_map, attach_links, batch_pages
from crmsync.read.rest import records_at

from .outbox import Op

MARKER = "crmsync"  # Bitrix24 ORIGINATOR_ID of records crmsync creates
RECOVERY_WINDOW = dt.timedelta(minutes=15)  # how far before a lost create's send we look for it


@dataclass
class Outcome:
    op: Op
    remote_id: str | None = None
    error: str | None = None  # the CRM's reason when it refused the op
    gone: bool = False  # refused because the record does not exist (deleted in the CRM)
    raw: dict[str, Any] | None = None  # the record as the CRM holds it after the write, if read back already
    unknown: str | None = None  # why the write's outcome is unknown (its answer was lost)

    @property
    def ok(self) -> bool:
        return self.error is None and self.unknown is None and self.remote_id is not None


class Writer:
    """One connection's writes of one entity. ``spec``: the connector's entity block."""

    def __init__(self, entity: str, spec: dict[str, Any], paginator: dict[str, Any], session: Any,
                 base_url: str) -> None:
        self.entity, self.spec, self.paginator = entity, spec, paginator
        self.session, self.base_url = session, base_url.rstrip("/")

    def batch_size(self, kind: str) -> int:
        return int((self.spec.get(kind) or {}).get("batch_size", 50))  # no such call: send() says so

    def send(self, kind: str, ops: list[Op], sending: Callable[[list[Op]], None]) -> list[Outcome]:
        """Write one batch; ``sending(ops)`` is called (and must commit) just before each HTTP call."""
        raise NotImplementedError

    def find_created(self, ops: list[Op], matches: Callable[[dict[str, Any], Op], bool]) -> dict[str, str]:
        """The records lost creates made, as ``op_id`` → remote id, for the ops found. The CRM has no
        client key on a record: look once among the records changed since shortly before the
        earliest lost call for ones with exactly the values an op wrote (the caller's ``matches``
        skips records already linked); a record is given to one op only."""
        if not ops:
            return {}
        since = min(op.sent_at or dt.datetime.now(dt.timezone.utc) for op in ops) - RECOVERY_WINDOW
        found: dict[str, str] = {}
        for raw in self._changed_since(since):
            if self.record_id(raw) in found.values():
                continue
            op = next((o for o in ops if o.op_id not in found and matches(raw, o)), None)
            if op is not None:
                found[op.op_id] = self.record_id(raw)
                if len(found) == len(ops):
                    break
        return found

    def _changed_since(self, since: dt.datetime) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def fetch(self, remote_ids: list[str]) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def record_id(self, raw: dict[str, Any]) -> str:
        listing = self.spec["list"]
        return str(raw.get(listing.get("record_id_field") or listing.get("id_field") or "id"))


WriterFactory = Callable[[str, dict[str, Any], dict[str, Any], Any, str], Writer]
_WRITERS: dict[str, WriterFactory] = {}


def register_writer(style: str, factory: WriterFactory) -> None:
    _WRITERS[style] = factory


def write_style(spec: dict[str, Any]) -> str:
    """``array`` for REST bulk bodies, ``bitrix24_batch`` for method calls packed into ``batch``."""
    write = spec.get("create") or spec.get("update") or {}
    return write.get("style") or ("array" if write.get("body") == "array" else "bitrix24_batch")


def writer_for(entity: str, connector: dict[str, Any], session: Any, base_url: str) -> Writer:
    spec = connector["entities"][entity]
    style = write_style(spec)
    factory = _WRITERS.get(style)
    if factory is None:
        raise ValueError(f"no writer for write style {style!r}; known: {', '.join(sorted(_WRITERS))}")
    return factory(entity, spec, connector.get("paginator") or {}, session, base_url)


def chunks(items: list[Op], size: int) -> Iterator[list[Op]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- AmoCRM ---------------------------------------------------------------------------------------
class ArrayWriter(Writer):
    def send(self, kind: str, ops: list[Op], sending: Callable[[list[Op]], None]) -> list[Outcome]:
        if kind == "delete":  # no CRM of this style deletes through its API (crmsync validate says so)
            raise CrmError(f"the {self.entity} connector has no way to delete records through the API")
        call = self.spec[kind]
        out: list[Outcome] = []
        todo = list(ops)
        while todo:
            sending(todo)
            body = [{**op.payload, **({"id": int(op.remote_id)} if kind == "update" and op.remote_id else {}),
                     "request_id": op.op_id} for op in todo]
            try:
                response = self.session.request(call.get("method", "POST"), f"{self.base_url}/{call['path']}",
                                                json=body, idempotent=False)
            except OutcomeUnknown as exc:
                return out + [Outcome(op, op.remote_id, unknown=str(exc)) for op in todo]
            if response.status_code < 300:
                items = {str(i.get("request_id")): i for i in records_at(response.json(), call.get("results", ""))}
                for op in todo:
                    item = items.get(op.op_id)
                    out.append(Outcome(op, str(item["id"])) if item and item.get("id") is not None
                               else Outcome(op, error="the CRM answered without a result for this record"))
                return out
            refused, gone = _validation_errors(response)
            if not any(op.op_id in refused for op in todo):  # no per-item detail: one message for the batch
                return out + [Outcome(op, error=crm_message(response)) for op in todo]
            out += [Outcome(op, error=refused[op.op_id], gone=op.op_id in gone) for op in todo if op.op_id in refused]
            todo = [op for op in todo if op.op_id not in refused]  # all-or-nothing: send the good ones again
        return out

    def _changed_since(self, since: dt.datetime) -> Iterator[dict[str, Any]]:
        # AmoCRM has no client key on a record and crmsync will not require a dedicated custom field.
        params = {k: str(v).replace("{cursor}", str(int(since.timestamp())))
                  for k, v in (self.spec.get("incremental") or {}).get("params", {}).items()}
        return self._list(params)

    def fetch(self, remote_ids: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        size = int(self.paginator.get("size", 250))
        for start in range(0, len(remote_ids), size):
            chunk = remote_ids[start:start + size]
            for raw in self._list({"filter[id][]": chunk}, expected=len(set(chunk))):
                out[self.record_id(raw)] = raw
        return out

    def _list(self, params: dict[str, Any], expected: int | None = None) -> Iterator[dict[str, Any]]:
        """``expected``: how many records the filter can match at most (the ids asked for); once that
        many came the listing is complete, where a full page would otherwise cost one more request."""
        listing = self.spec["list"]
        page_param = self.paginator.get("page_param", "page")
        seen = 0
        for page in range(self.paginator.get("first_page", 1), 10_000):
            response = self.session.get(f"{self.base_url}/{listing['path']}", params={
                **(listing.get("params") or {}), **params, page_param: page,
                self.paginator.get("size_param", "limit"): self.paginator.get("size", 250)})
            if response.status_code == 204 or not response.content:
                return
            body = response.json()
            records = records_at(body, listing.get("records", ""))
            yield from records
            seen += len(records)
            if expected is not None and seen >= expected:
                return
            # A short page is the last one: asking on would only fetch AmoCRM's empty 204.
            if len(records) < int(self.paginator.get("size", 250)) or not (body.get("_links") or {}).get("next"):
                return


def _validation_errors(response: Any) -> tuple[dict[str, str], set[str]]:
    """Reasons per ``request_id``, and the requests refused only because their ``id`` does not exist."""
    try:
        body = response.json()
    except ValueError:
        return {}, set()
    out, gone = {}, set()
    for item in (body.get("validation-errors") or []) if isinstance(body, dict) else []:
        errors = item.get("errors") or []
        reasons = [f"{e.get('path', '')}: {e.get('detail') or e.get('code')}" for e in errors]
        out[str(item.get("request_id"))] = "; ".join(reasons) or "refused by the CRM"
        if errors and all(e.get("code") == "NotFound" and e.get("path") == "id" for e in errors):
            gone.add(str(item.get("request_id")))
    return out, gone


# -- Bitrix24 -------------------------------------------------------------------------------------
BATCH_COMMANDS = 50  # Bitrix24's limit of sub-calls in one ``batch``
READ_BACK = "crmsync_read_back"  # the batch key of the list call that reads the written records back


class Bitrix24BatchWriter(Writer):
    """Sub-calls of a ``batch`` run in order, so one list call after the writes reads the written
    records back in the same request (one request per batch instead of two). It finds updated
    records by ID and created CRM items by the ``ORIGIN_ID`` we gave them; a created task (no
    ORIGIN_ID) and an entity whose records need a second call for their links are read back by
    :meth:`fetch` after the write, as before.
    """

    @property
    def _crm_item(self) -> bool:
        return str(self.spec["create"]["method"]).startswith("crm.")  # ORIGIN_ID exists on CRM items only

    def batch_size(self, kind: str) -> int:
        size = super().batch_size(kind)
        return min(size, BATCH_COMMANDS - 1) if self._reads_back(kind) else size

    def _reads_back(self, kind: str) -> bool:
        if self.spec.get("links"):
            return False
        return kind == "update" or (kind == "create" and self._crm_item)

    def _read_back(self, kind: str, ops: list[Op]) -> str:
        listing = self.spec["list"]
        flt: dict[str, Any] = ({"@" + listing.get("id_field", "ID"): [op.remote_id for op in ops]} if kind == "update"
                               else {"ORIGINATOR_ID": MARKER, "@ORIGIN_ID": [op.idempotency_key for op in ops]})
        params = {"filter": flt, "order": {listing.get("id_field", "ID"): "ASC"},
                  "select": listing.get("select", ["*"]), "start": -1}
        return f"{listing['method']}?{build_query(params)}"

    def send(self, kind: str, ops: list[Op], sending: Callable[[list[Op]], None]) -> list[Outcome]:
        method = self.spec[kind]["method"]
        id_param = "taskId" if method.startswith("tasks.") else "id"
        present = self._entries_now(ops) if kind == "update" else {}
        cmd = {}
        for op in ops:
            fields = dict(op.payload)
            if kind == "create" and self._crm_item:
                fields.update(ORIGINATOR_ID=MARKER, ORIGIN_ID=op.idempotency_key)
            if kind == "update":
                fields.update(_replacing(fields, present.get(str(op.remote_id)) or {}))
            params: dict[str, Any] = {id_param: op.remote_id} if kind == "delete" else {"fields": fields}
            if kind == "update":
                params = {id_param: op.remote_id, **params}
            cmd[op.op_id] = f"{method}?{build_query(params)}"
        if self._reads_back(kind) and len(ops) < BATCH_COMMANDS:
            cmd[READ_BACK] = self._read_back(kind, ops)
        sending(ops)
        try:  # a batch that writes is not idempotent, even with a read-back call inside
            response = self.session.post(f"{self.base_url}/batch", json={"halt": 0, "cmd": cmd}, idempotent=False)
        except OutcomeUnknown as exc:
            return [Outcome(op, op.remote_id, unknown=str(exc)) for op in ops]
        if response.status_code >= 400:
            raise CrmError(f"Bitrix24 refused the batch write of {method}: {crm_message(response)}")
        body = response.json().get("result") or {}
        results, errors = _as_map(body.get("result")), _as_map(body.get("result_error"))
        rows = results.get(READ_BACK) or []
        if self.spec["list"].get("records") and isinstance(rows, dict):
            rows = rows.get(self.spec["list"]["records"]) or []
        # A record missing here (the read-back call failed, or saw fewer) is read back by fetch().
        written = {self.record_id(r): r for r in rows if isinstance(r, dict)}
        out = []
        for op in ops:
            if op.op_id in errors:
                err = errors[op.op_id] or {}
                text = str(err.get("error_description") or err.get("error") or "refused").replace("<br>", "").strip()
                out.append(Outcome(op, op.remote_id, error=f"{err.get('error') or 'error'}: {text}",
                                   gone=kind != "create" and _not_found(err)))
                continue
            new_id = _new_id(results.get(op.op_id)) if kind == "create" else op.remote_id
            out.append(Outcome(op, new_id, raw=written.get(str(new_id))) if new_id
                       else Outcome(op, error="the CRM answered without a result"))
        return out

    def _entries_now(self, ops: list[Op]) -> dict[str, dict[str, Any]]:
        """The records about to get a multi-field list (PHONE, EMAIL …), as the CRM has them now."""
        ids = [str(op.remote_id) for op in ops if any(_entry_list(v) for v in op.payload.values())]
        return self.fetch(ids) if ids else {}

    def find_created(self, ops: list[Op], matches: Callable[[dict[str, Any], Op], bool]) -> dict[str, str]:
        if not self._crm_item:  # tasks have no ORIGIN_ID: by content, as for AmoCRM
            return super().find_created(ops, matches)
        # The key we wrote into ORIGIN_ID: exact whatever else changed since, 50 keys a call.
        by_key = {op.idempotency_key: op.op_id for op in ops}
        found: dict[str, str] = {}
        keys = list(by_key)
        for start in range(0, len(keys), 50):
            for raw in self._list({"ORIGINATOR_ID": MARKER, "@ORIGIN_ID": keys[start:start + 50]}):
                op_id = by_key.get(str(raw.get("ORIGIN_ID")))
                if op_id is not None and op_id not in found:
                    found[op_id] = self.record_id(raw)
        return found

    def _changed_since(self, since: dt.datetime) -> Iterator[dict[str, Any]]:
        flt = {k: str(v).replace("{cursor}", since.astimezone(dt.timezone.utc).isoformat())
               for k, v in (self.spec.get("incremental") or {}).get("filter", {}).items()}
        return iter(self._list(flt))

    def fetch(self, remote_ids: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(remote_ids), 50):
            for raw in self._list({"@ID": remote_ids[start:start + 50]}):
                out[self.record_id(raw)] = raw
        return out

    def _list(self, flt: dict[str, Any]) -> list[dict[str, Any]]:
        listing = self.spec["list"]
        record_id = listing.get("record_id_field", listing.get("id_field", "ID"))
        pages = list(batch_pages(self.session, self.base_url, listing["method"], select=listing.get("select", ["*"]),
                                 id_field=listing.get("id_field", "ID"), record_id_field=record_id,
                                 records_key=listing.get("records"), extra_filter=flt, per_batch=5))
        if pages and self.spec.get("links"):
            attach_links(self.session, self.base_url, pages, self.spec["links"], record_id)
        return [r for page in pages for r in page]


def _entry_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(e, dict) for e in value)


def _replacing(fields: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Multi-field lists that replace what the record has. A legacy update adds entries without ``ID``
    and keeps the ones it does not mention, so writing ``[]`` would clear nothing and a new phone would
    sit beside the old one: each entry the record has now goes first with ``DELETE: Y``. Read just
    before the write, so an entry added in the CRM since the last pull is not left behind either.
    """
    out = {}
    for key, value in fields.items():
        existing = current.get(key)
        if not _entry_list(value) or not _entry_list(existing):
            continue
        named = {str(e.get("ID")) for e in value if e.get("ID")}
        drop = [{"ID": e["ID"], "DELETE": "Y"} for e in existing if e.get("ID") and str(e["ID"]) not in named]
        out[key] = drop + value
    return out


def _not_found(error: dict[str, Any]) -> bool:
    """Bitrix24's ways of saying the record does not exist: legacy ``""``/"Not found", crm.item
    ``NOT_FOUND``, tasks "Task not found or not accessible"."""
    return error.get("error") == "NOT_FOUND" or "not found" in str(error.get("error_description") or "").lower()


def _new_id(result: Any) -> str | None:
    if isinstance(result, dict):  # tasks.task.add → {"task": {...}}, crm.item.add → {"item": {...}}
        inner = next((v for v in result.values() if isinstance(v, dict)), result)
        value = inner.get("id", inner.get("ID"))
        return str(value) if value is not None else None
    if isinstance(result, (int, str)) and str(result).isdigit():
        return str(result)
    return None


register_writer("array", ArrayWriter)
register_writer("bitrix24_batch", Bitrix24BatchWriter)
