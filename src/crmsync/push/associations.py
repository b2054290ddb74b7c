"""Associations written beside a record: an entity's ``associations`` in its connector spec.

Some CRMs keep the links between records (a deal's contacts, a task's deal) apart from the record's
own fields: the record write cannot carry them, and each link is added or removed by a call of its
own. Each ``associations`` entry names the payload key the mapping writes (``field``: a list of the
linked records' CRM ids) and how to change the links:

* ``on_create``: the links travel inside the create itself (``key``: a list of ``item`` filled with
  ``{to_id}``), so a create stays one call: a lost create is found by its content with its links, and
  there is no record without its links whose link writes could fail apart from it;
* ``add`` / ``remove``: an envelope of inputs (``item`` filled with the record's ``{id}`` and the linked
  ``{to_id}``), ``batch_size`` a call.

After an update the record's current links are read by the entity's ``links`` entry whose ``into``
is the same ``field``, and only the difference is sent: the CRM ends with exactly the mapped ids, and
writing the same links again sends nothing. A link call that fails leaves the update's outcome
refused (the record is planned again next run); one whose answer is lost leaves it unknown, settled
by reading the record back with its links, as any lost update. Adding a link
that exists or removing one that does not changes nothing, so these calls are idempotent by nature
(``idempotent: true`` lets the session repeat one whose answer was lost).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crmsync.http.session import OutcomeUnknown
from crmsync.read.links import attach_rest_links, rest_links

from .outbox import Op
from .writer import Outcome, fill

if TYPE_CHECKING:
    from .writer import Writer


class AssociationWriter:
    """One entity's record writes with their associations (``create`` and ``update``)."""

    def __init__(self, owner: Writer, blocks: list[dict[str, Any]]) -> None:
        self.owner, self.blocks = owner, blocks
        self.fields = [b["field"] for b in blocks]

    def send(self, kind: str, ops: list[Op], sending: Callable[[list[Op]], None]) -> list[Outcome]:
        wanted: dict[str, dict[str, list[str]]] = {}
        record_ops: list[Op] = []
        done: list[Outcome] = []
        for op in ops:
            payload = {k: v for k, v in op.payload.items() if k not in self.fields}
            mine = {b["field"]: _ids(op.payload[b["field"]]) for b in self.blocks if b["field"] in op.payload}
            if kind == "create":
                for block in self.blocks:
                    inline = block["on_create"]
                    if block["field"] in mine:
                        items = [fill(inline["item"], {"to_id": to}) for to in mine.pop(block["field"])]
                        payload[inline["key"]] = [*(payload.get(inline["key"]) or []), *items]
            wanted[op.op_id] = mine
            if kind == "update" and not payload and op.remote_id:
                done.append(Outcome(op, op.remote_id))  # only links changed: no record write to make
                continue
            record_ops.append(dataclasses.replace(op, payload=payload))
        by_id = {op.op_id: op for op in ops}
        sent = self.owner.kind(kind).send(record_ops, sending) if record_ops else []
        outcomes = [dataclasses.replace(o, op=by_id[o.op.op_id]) for o in sent] + done
        return self._links(kind, outcomes, wanted)

    # -- the links of the records written --------------------------------------------------------
    def _links(self, kind: str, outcomes: list[Outcome], wanted: dict[str, dict[str, list[str]]]) -> list[Outcome]:
        failed: dict[str, Outcome] = {}
        for block in self.blocks:
            field = block["field"]
            todo = [(o, wanted[o.op.op_id][field]) for o in outcomes
                    if o.ok and field in wanted.get(o.op.op_id, {}) and o.op.op_id not in failed]
            if not todo:
                continue
            current = self._current(field, [str(o.remote_id) for o, _ in todo])
            adds, removes = [], []
            for o, ids in todo:
                rid, have = str(o.remote_id), current.get(str(o.remote_id), [])
                adds += [(o, rid, to) for to in ids if to not in have]
                removes += [(o, rid, to) for to in have if to not in ids]
            for verb, pairs in (("add", adds), ("remove", removes)):
                if pairs:
                    failed.update(self._change(block, verb, pairs, failed))
        return [failed.get(o.op.op_id, o) for o in outcomes]

    def _current(self, field: str, remote_ids: list[str]) -> dict[str, list[str]]:
        reader = next((b for b in rest_links(self.owner.spec.get("links")) if b["into"] == field), None)
        if reader is None:
            raise LookupError(f"no links entry of {self.owner.entity} reads {field!r}")  # `crmsync validate` says so
        records = [{"id": rid} for rid in remote_ids]
        attach_rest_links(self.owner.session, self.owner.base_url, records, reader, "id")
        return {r["id"]: [str(i) for i in r[field]] for r in records}

    def _change(self, block: dict[str, Any], verb: str, pairs: list[tuple[Outcome, str, str]],
                failed: dict[str, Outcome]) -> dict[str, Outcome]:
        call = block[verb]
        size = int(call.get("batch_size", 100))
        out: dict[str, Outcome] = {}
        pairs = [p for p in pairs if p[0].op.op_id not in failed]
        for start in range(0, len(pairs), size):
            chunk = pairs[start:start + size]
            body = {**(call.get("body") or {}), call.get("inputs_key", "inputs"):
                    [fill(call["item"], {"id": rid, "to_id": to}) for _, rid, to in chunk]}
            try:
                response = self.owner.session.request(call.get("method", "POST"), self.owner.base_url + "/" +
                                                      call["path"].lstrip("/"), json=body,
                                                      idempotent=bool(call.get("idempotent", False)))
            except OutcomeUnknown as exc:  # the record is written; whether its links are is settled by a re-read
                why = f"the answer to {verb} {block['field']} was lost ({exc})"
                out.update({o.op.op_id: dataclasses.replace(o, unknown=why) for o, _, _ in chunk})
                continue
            if response.status_code >= 300:
                why = f"{verb} {block['field']}: {self.owner.session.crm_message(response)}"
                out.update({o.op.op_id: dataclasses.replace(o, error=why) for o, _, _ in chunk})
        return out


def _ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [] if value in (None, "") else [value]
    return list(dict.fromkeys(str(i) for i in items if i not in (None, "")))
