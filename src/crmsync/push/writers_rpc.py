"""``rpc_batch``: RPC method calls packed into the CRM's batch call, one sub-call per op.

Sub-calls of a batch run in order, so one list call after the writes reads the written records
back in the same request (one request per batch instead of two): updated records by id
(``read_back.filter``), created ones by the idempotency key the create wrote into them
(``key_fields``, found with ``recover.filter``). An entity whose records need a second call for
their links is read back by :meth:`Writer.fetch` after the write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmsync.errors import CrmError
from crmsync.http.session import OutcomeUnknown
from crmsync.phpquery import build_query

from .outbox import Op
from .writer import KindWriter, Outcome, fill, op_values, register_writer
from .writers_rest import dig

BATCH_COMMANDS = 50  # default sub-calls in one batch (batch_commands, else the paginator's commands_per_batch)
ENVELOPE = ("batch_method", "commands_key", "results_path", "errors_path")  # said once, by the keyset_batch paginator
READ_BACK = "crmsync_read_back"  # the batch key of the list call that reads the written records back


class RpcBatchWriter(KindWriter):
    def batch_size(self) -> int:
        size = int(self.call.get("batch_size", 50))
        return min(size, self.commands - 1) if self._reads_back() else size

    @property
    def commands(self) -> int:
        return int(self.call.get("batch_commands") or self.owner.paginator.get("commands_per_batch") or BATCH_COMMANDS)

    def envelope(self) -> dict[str, Any]:
        """The batch call's shape: the connector's ``keyset_batch`` paginator declares it for reads, and
        writes use the same call (``batch_method`` of the write call overrides)."""
        env = {**self.owner.paginator, **({"batch_method": self.call["batch_method"]} if "batch_method" in self.call
                                          else {})}
        missing = [k for k in ENVELOPE if not env.get(k)]
        if missing:
            raise CrmError(f"{self.owner.entity}.{self.kind} (rpc_batch) needs the batch call's envelope, which the "
                           f"connector's keyset_batch paginator declares; missing: {', '.join(missing)}")
        return env

    def _reads_back(self) -> bool:
        if self.owner.spec.get("links"):
            return False
        lookup = self.owner.lookup
        if self.kind == "update":
            return lookup.rpc_filter("read_back") is not None
        return self.kind == "create" and bool(self.call.get("key_fields")) and lookup.keyed()

    def _read_back(self, ops: list[Op]) -> str:
        lookup = self.owner.lookup
        flt = (lookup.ids_filter([str(op.remote_id) for op in ops]) if self.kind == "update"
               else lookup.keys_filter([op.idempotency_key for op in ops]))
        return lookup.rpc_list_call(flt)

    def send(self, ops: list[Op], sending: Callable[[list[Op]], None]) -> list[Outcome]:
        call = self.call
        method = call["method"]
        id_param = call.get("id_param", "id")
        fields_param = call.get("fields_param", "fields")
        replace = call.get("replace_entries")
        present = self.owner.fetch_entries(ops) if replace and self.kind == "update" else {}
        cmd = {}
        for op in ops:
            fields = dict(op.payload)
            if self.kind == "create" and call.get("key_fields"):
                fields.update(fill(call["key_fields"], op_values(op)))
            if replace:
                fields.update(_replacing(fields, present.get(str(op.remote_id)) or {}, replace))
            params: dict[str, Any] = {id_param: op.remote_id} if self.kind == "delete" else {fields_param: fields}
            if self.kind == "update":
                params = {id_param: op.remote_id, **params}
            cmd[op.op_id] = f"{method}?{build_query(params)}"
        if self._reads_back() and len(ops) < self.commands:
            cmd[READ_BACK] = self._read_back(ops)
        env = self.envelope()
        sending(ops)
        try:  # a batch that writes is not idempotent, even with a read-back call inside
            response = self.session.post(self.url(env["batch_method"]),
                                         json={**(env.get("body") or {}), env["commands_key"]: cmd},
                                         idempotent=self.idempotent)
        except OutcomeUnknown as exc:
            return [Outcome(op, op.remote_id, unknown=str(exc)) for op in ops]
        if response.status_code >= 400:
            raise CrmError(f"{self.session.crm_title} refused the batch write of {method}: "
                           f"{self.session.crm_message(response)}")
        answer = response.json()
        results, errors = _as_map(dig(answer, env["results_path"])), _as_map(dig(answer, env["errors_path"]))
        rows = results.get(READ_BACK) or []
        records = self.owner.spec["list"].get("records")
        if records and isinstance(rows, dict):
            rows = rows.get(records) or []
        # A record missing here (the read-back call failed, or saw fewer) is read back by fetch().
        written = {self.owner.record_id(r): r for r in rows if isinstance(r, dict)}
        out = []
        for op in ops:
            if op.op_id in errors:
                err = errors[op.op_id] or {}
                text = str(err.get("error_description") or err.get("error") or "refused").replace("<br>", "").strip()
                out.append(Outcome(op, op.remote_id, error=f"{err.get('error') or 'error'}: {text}",
                                   gone=self.kind != "create" and _not_found(err, call.get("gone"))))
                continue
            new_id = (_new_id(results.get(op.op_id), call.get("id_path")) if self.kind == "create"
                      else op.remote_id)
            out.append(Outcome(op, new_id, raw=written.get(str(new_id))) if new_id
                       else Outcome(op, error="the CRM answered without a result"))
        return out


def _as_map(value: Any) -> dict[str, Any]:
    """An empty map may come as ``[]`` and a 0..n-1 keyed one as a list (PHP's JSON encoding)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


def _entry_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(e, dict) for e in value)


DEFAULT_REPLACE = {"id": "ID", "mark": {"DELETE": "Y"}}


def _replacing(fields: dict[str, Any], current: dict[str, Any],
               how: dict[str, Any] | bool | None = None) -> dict[str, Any]:
    """Multi-field lists that replace what the record has (``replace_entries``). An update that adds
    entries without an id and keeps the ones it does not mention would clear nothing with ``[]`` and
    leave an old phone beside a new one: each entry the record has now goes first, marked for
    deletion (``mark``). Read just before the write, so an entry added in the CRM since the last
    pull is not left behind either."""
    spec = {**DEFAULT_REPLACE, **(how if isinstance(how, dict) else {})}
    id_key, mark = spec["id"], spec["mark"]
    out = {}
    for key, value in fields.items():
        existing = current.get(key)
        if not _entry_list(value) or not _entry_list(existing):
            continue
        named = {str(e.get(id_key)) for e in value if e.get(id_key)}
        drop = [{id_key: e[id_key], **mark} for e in existing if e.get(id_key) and str(e[id_key]) not in named]
        out[key] = drop + value
    return out


DEFAULT_GONE = {"errors": ["NOT_FOUND"], "messages": ["Not found"]}


def _not_found(error: dict[str, Any], gone: dict[str, Any] | None = None) -> bool:
    """Whether a sub-call's error says the record does not exist: one of ``gone.errors`` as its code, or
    its whole description one of ``gone.messages`` (case-insensitive, markup and end punctuation aside).
    The whole text, not a part: "Pipeline (CATEGORY_ID) 7 not found" refuses a value of a record that
    exists; read as "deleted in the CRM", it would drop the record's link."""
    spec = {**DEFAULT_GONE, **(gone or {})}
    text = _plain(error.get("error_description"))
    return error.get("error") in spec["errors"] or any(text == _plain(m) for m in spec["messages"])


def _plain(text: Any) -> str:
    return str(text or "").replace("<br>", " ").strip().rstrip(".!").strip().lower()


def _new_id(result: Any, id_path: str | None = None) -> str | None:
    if id_path:
        value = dig(result, id_path)
        return str(value) if value is not None else None
    if isinstance(result, dict):  # {"task": {...}}, {"item": {...}}: the one record inside
        inner = next((v for v in result.values() if isinstance(v, dict)), result)
        value = inner.get("id", inner.get("ID"))
        return str(value) if value is not None else None
    if isinstance(result, (int, str)) and str(result).isdigit():
        return str(result)
    return None


register_writer("rpc_batch", RpcBatchWriter)
