"""REST writers: one record per call (``rest``), JSON arrays (``array``) and input envelopes (``batch``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmsync.http.session import OutcomeUnknown

from .outbox import Op
from .writer import KindWriter, Outcome, fill, op_values, register_writer

NO_RESULT = "the CRM answered without a result for this record"


def dig(body: Any, path: str) -> Any:
    """The value at a dotted ``path`` of a JSON answer (None if absent); an empty path is the answer itself."""
    for part in [p for p in str(path or "").split(".") if p]:
        if isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            body = body.get(part) if isinstance(body, dict) else None
    return body


def listed(body: Any, path: str) -> list[Any]:
    found = dig(body, path)
    return found if isinstance(found, list) else []


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _id_value(remote_id: str | None) -> Any:
    """Ids travel as the numbers they are (a CRM with numeric ids refuses "12" as an id)."""
    return int(remote_id) if remote_id and str(remote_id).isdigit() else remote_id


class RestWriter(KindWriter):
    """One HTTP call per record: ``{id}`` in ``path`` is the record's id, ``body`` (default: the mapped
    fields) is sent as JSON (a ``DELETE`` sends none), the new id is read at ``id_path``."""

    def batch_size(self) -> int:
        return int(self.call.get("batch_size", 100))  # ops per outbox batch; still one call each

    def send(self, ops: list[Op], sending: Callable[[list[Op]], None]) -> list[Outcome]:
        out: list[Outcome] = []
        method = str(self.call.get("method") or ("DELETE" if self.kind == "delete" else
                                                 "PATCH" if self.kind == "update" else "POST")).upper()
        gone_status = set(self.call.get("gone_status") or [404])
        for i, op in enumerate(ops):
            values = op_values(op)
            path = fill(str(self.call["path"]), values)
            body = None if method == "DELETE" and "body" not in self.call else fill(self.call.get("body", "{fields}"),
                                                                                    values)
            sending([op])
            try:
                response = self.session.request(method, self.url(path), json=body, idempotent=self.idempotent)
            except OutcomeUnknown as exc:
                # this op may have landed; the ones after it were never sent
                return out + [Outcome(op, op.remote_id, unknown=str(exc))] + [
                    Outcome(o, o.remote_id, unknown=f"not sent: the answer to an earlier call was lost ({exc})")
                    for o in ops[i + 1:]]
            if response.status_code in gone_status and self.kind != "create":
                out.append(Outcome(op, op.remote_id, error=self.session.crm_message(response), gone=True))
                continue
            if response.status_code >= 300:
                out.append(Outcome(op, op.remote_id, error=self.session.crm_message(response)))
                continue
            answer = _json(response) if response.content else None
            if self.kind == "delete":
                out.append(Outcome(op, op.remote_id))
                continue
            new_id = op.remote_id if self.kind == "update" else dig(answer, self.call.get("id_path", "id"))
            if new_id is None:  # the CRM said yes without saying to what: found like a lost answer, never resent
                where = self.call.get("id_path", "id")
                out.append(Outcome(op, op.remote_id, unknown=f"{NO_RESULT} (no id at {where})"))
                continue
            record = dig(answer, self.call["record_path"]) if "record_path" in self.call else None
            out.append(Outcome(op, str(new_id), raw=record if isinstance(record, dict) else None))
        return out


DEFAULT_REFUSALS = {"records": "validation-errors", "match": "request_id", "errors": "errors",
                    "gone": {"code": "NotFound", "path": "id"}}


class ArrayWriter(KindWriter):
    """Many records in one JSON array, each with ``request_id_field`` = the op's id; results at
    ``results``, matched by the echoed request id (``match_by: request_id``) or by position. A CRM
    that refuses the whole array for one bad item names the items (``refusals``): those are
    rejected and the rest sent again."""

    def batch_size(self) -> int:
        return int(self.call.get("batch_size", 250))

    def send(self, ops: list[Op], sending: Callable[[list[Op]], None]) -> list[Outcome]:
        call = self.call
        rid = call.get("request_id_field", "request_id")
        id_field = call.get("id_field", "id")
        out: list[Outcome] = []
        todo = list(ops)
        while todo:
            sending(todo)
            body = [{**(fill(call["item"], op_values(op)) if "item" in call else op.payload),
                     **({id_field: _id_value(op.remote_id)} if self.kind != "create" and op.remote_id else {}),
                     rid: op.op_id} for op in todo]
            try:
                response = self.session.request(call.get("method", "POST"), self.url(call["path"]), json=body,
                                                idempotent=self.idempotent)
            except OutcomeUnknown as exc:
                return out + [Outcome(op, op.remote_id, unknown=str(exc)) for op in todo]
            if response.status_code < 300:
                if self.kind == "delete":
                    return out + [Outcome(op, op.remote_id) for op in todo]
                items = listed(_json(response), call.get("results", ""))
                if call.get("match_by", "request_id") == "order":
                    if len(items) != len(todo):  # which result is whose is unknowable: settle as lost answers
                        why = f"the CRM answered {len(items)} results to {len(todo)} items"
                        return out + [Outcome(op, op.remote_id, unknown=why) for op in todo]
                    paired = dict(zip([op.op_id for op in todo], items, strict=True))
                else:
                    paired = {str(i.get(rid)): i for i in items if isinstance(i, dict)}
                for op in todo:
                    item = paired.get(op.op_id)
                    new_id = dig(item, call.get("id_path", "id")) if item else None
                    out.append(Outcome(op, str(new_id)) if new_id is not None else Outcome(op, error=NO_RESULT))
                return out
            refused, gone, paths = _validation_errors(response, call.get("refusals"))
            if not any(op.op_id in refused for op in todo):  # no per-item detail: one message for the batch
                return out + [Outcome(op, error=self.session.crm_message(response)) for op in todo]
            out += [Outcome(op, error=refused[op.op_id], gone=op.op_id in gone, paths=paths.get(op.op_id, ()))
                    for op in todo if op.op_id in refused]
            todo = [op for op in todo if op.op_id not in refused]  # all-or-nothing: send the good ones again
        return out


def _validation_errors(response: Any, refusals: dict[str, Any] | None = None
                       ) -> tuple[dict[str, str], set[str], dict[str, tuple[str, ...]]]:
    """Reasons per request id, the requests refused only because their ``id`` does not exist, and the
    paths in each refused item that the CRM's errors point at (which field it refused)."""
    spec = {**DEFAULT_REFUSALS, **(refusals or {})}
    body = _json(response)
    out, gone, paths = {}, set(), {}
    gone_when = spec.get("gone") or {}
    for item in listed(body, spec["records"]) if isinstance(body, dict) else []:
        errors = [e for e in item.get(spec["errors"]) or [] if isinstance(e, dict)]
        reasons = [f"{e.get('path', '')}: {e.get('detail') or e.get('message') or e.get('code')}" for e in errors]
        key = str(item.get(spec["match"]))
        out[key] = "; ".join(reasons) or "refused by the CRM"
        paths[key] = tuple(str(e["path"]) for e in errors if e.get("path"))
        if errors and gone_when and all(all(e.get(k) == v for k, v in gone_when.items()) for e in errors):
            gone.add(key)
    return out, gone, paths


def _refused_places(body: Any, spec: dict[str, Any] | None) -> tuple[str, ...]:
    """The places in the item sent that a refusal's errors name (``refusal_paths``), as dotted paths."""
    if not spec or not isinstance(body, dict):
        return ()
    under = f"{spec['under']}." if spec.get("under") else ""
    out = []
    for err in listed(body, spec.get("errors", "errors")):
        named = dig(err, spec.get("path", "path"))
        out += [f"{under}{n}" for n in (named if isinstance(named, list) else [named]) if isinstance(n, (str, int))]
    return tuple(out)


class BatchWriter(KindWriter):
    """An envelope of up to ``batch_size`` inputs: ``{inputs_key: [item, …]}``, each ``item`` a template
    of the op (``{fields}``, ``{id}``, ``{key}``). Results at ``results`` are matched to ops by position
    (``match_by: order``, only when the CRM answered one result per input) or by the record id
    (``match_by: id``: updates). Ids the CRM reports missing (``missing``: where the error entries are
    and where their ids sit) come back as gone. An envelope refused as a whole (a 4xx: nothing of it
    written) is sent again one op at a time, so one bad input never stops the rest; the refusal of one
    input names the values it refused where ``refusal_paths`` says."""

    def batch_size(self) -> int:
        return int(self.call.get("batch_size", 100))

    def send(self, ops: list[Op], sending: Callable[[list[Op]], None]) -> list[Outcome]:
        call = self.call
        envelope = {**(call.get("body") or {}),
                    call.get("inputs_key", "inputs"): [fill(call.get("item", "{fields}"), op_values(op)) for op in ops]}
        sending(ops)
        try:
            response = self.session.request(call.get("method", "POST"), self.url(call["path"]), json=envelope,
                                            idempotent=self.idempotent)
        except OutcomeUnknown as exc:
            return [Outcome(op, op.remote_id, unknown=str(exc)) for op in ops]
        if response.status_code >= 300 and response.status_code not in set(call.get("partial_status") or [207]):
            if 400 <= response.status_code < 500 and len(ops) > 1:
                # The CRM refused the envelope for what some inputs hold (one invalid value, two creates with
                # one unique e-mail) and wrote none of it: each op alone, so only the bad ones are set aside.
                return [o for op in ops for o in self.send([op], sending)]
            paths = _refused_places(_json(response), call.get("refusal_paths")) if len(ops) == 1 else ()
            return [Outcome(op, op.remote_id, error=self.session.crm_message(response), paths=paths) for op in ops]
        answer = _json(response) if response.content else None
        missing = self._missing(answer)
        if self.kind == "delete":
            return [Outcome(op, op.remote_id, error="the record does not exist", gone=True)
                    if str(op.remote_id) in missing else Outcome(op, op.remote_id) for op in ops]
        results = [r for r in listed(answer, call.get("results", "results")) if isinstance(r, dict)]
        id_path = call.get("id_path", "id")
        if call.get("match_by", "order" if self.kind == "create" else "id") == "order":
            if len(results) != len(ops):  # which result is whose is unknowable: find them as lost creates
                why = f"the CRM answered {len(results)} results to {len(ops)} inputs"
                return [Outcome(op, op.remote_id, unknown=why) for op in ops]
            paired = {op.op_id: r for op, r in zip(ops, results, strict=True)}
        else:
            by_id = {str(dig(r, id_path)): r for r in results}
            paired = {op.op_id: by_id[str(op.remote_id)] for op in ops if str(op.remote_id) in by_id}
        out = []
        for op in ops:
            if self.kind != "create" and str(op.remote_id) in missing:
                out.append(Outcome(op, op.remote_id, error="the record does not exist in the CRM", gone=True))
                continue
            record = paired.get(op.op_id)
            new_id = dig(record, id_path) if record is not None else None
            if new_id is None and self.kind == "create":  # made or not: found like a lost answer, never resent
                out.append(Outcome(op, op.remote_id, unknown=NO_RESULT))
                continue
            if new_id is None:
                out.append(Outcome(op, op.remote_id, error=NO_RESULT))
                continue
            out.append(Outcome(op, str(new_id), raw=record if call.get("returns_record") else None))
        return out

    def _missing(self, answer: Any) -> set[str]:
        if "missing" not in self.call:
            return set()
        spec = self.call["missing"] or {}
        ids: set[str] = set()
        for err in listed(answer, spec.get("records", "errors")):
            found = dig(err, spec.get("ids", "context.ids"))
            ids.update(str(i) for i in (found if isinstance(found, list) else [found] if found is not None else []))
        return ids


register_writer("rest", RestWriter)
register_writer("array", ArrayWriter)
register_writer("batch", BatchWriter)
