"""``sync.outbox``: every write we mean to make to a CRM, before and after it is made.

An operation is ``pending`` until sent; ``sending`` is set (and committed) just before its HTTP
call, so a run that dies mid-call leaves a trace the next run resolves before planning anything.
``unknown``: the write may have reached the CRM but its answer was lost (a timeout, a dropped or
cut-off answer, a 5xx after the body went out); the same run settles it at once, and a run that
could not leaves it, like ``sending``, for the next one. Settling (crmsync.push.run) asks the CRM,
never resends blind: a create is looked up by its idempotency key or content, an update is re-read
and compared with what was sent, a delete is checked to be gone; only what did not land is sent again.
``sent``, ``rejected`` (the CRM or the mapping said no: not retried until the data changes), ``failed``
(transient: retried next run) and ``superseded`` (the record changed again before the op was sent)
and ``gone`` (the CRM record no longer exists: handled as a deletion, crmsync.push.deletes) are final
for this op. Re-planning the same change yields the same ``idempotency_key`` and reuses the op.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from crmsync.canonical.apply import insert_rows

# The table itself is created with the other sync.* tables (crmsync.canonical.tables.SYNC_DDL).

OPEN = ("pending", "failed")  # waiting to be sent (again)


@dataclass
class Op:
    kind: str
    entity: str
    connection: str
    canonical_id: str
    remote_id: str | None
    fields: list[str]
    values: dict[str, Any]
    payload: dict[str, Any]
    idempotency_key: str
    op_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "pending"
    attempts: int = 0
    sent_at: dt.datetime | None = None

    def preview(self) -> dict[str, Any]:
        return {"kind": self.kind, "canonical_id": self.canonical_id, "remote_id": self.remote_id,
                "fields": {f: _dig(self.values, f) for f in self.fields}}


def _dig(values: dict[str, Any], name: str) -> Any:
    if name.startswith("custom."):
        return (values.get("custom") or {}).get(name[7:])
    return values.get(name)


_NEW_COLUMNS = {"run_id": "VARCHAR", "op_id": "VARCHAR", "connection": "VARCHAR", "entity": "VARCHAR",
                "canonical_id": "VARCHAR", "remote_id": "VARCHAR", "kind": "VARCHAR", "fields": "JSON",
                "values": "JSON", "payload": "JSON", "idempotency_key": "VARCHAR", "status": "VARCHAR",
                "attempts": "INTEGER"}
_COLUMNS = ("op_id", "connection", "entity", "canonical_id", "remote_id", "kind", "fields", "values", "payload",
            "idempotency_key", "status", "attempts", "sent_at")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _from_row(row: tuple[Any, ...]) -> Op:
    rec = dict(zip(_COLUMNS, row, strict=True))
    return Op(kind=rec["kind"], entity=rec["entity"], connection=rec["connection"], canonical_id=rec["canonical_id"],
              remote_id=rec["remote_id"], fields=json.loads(rec["fields"]), values=json.loads(rec["values"]),
              payload=json.loads(rec["payload"]), idempotency_key=rec["idempotency_key"], op_id=rec["op_id"],
              status=rec["status"], attempts=rec["attempts"], sent_at=rec["sent_at"])


def _select(where: str) -> str:
    return f"SELECT {', '.join(_quoted(c) for c in _COLUMNS)} FROM sync.outbox WHERE {where}"


def enqueue(con: Any, run_id: str, connection: str, entity: str, ops: Iterable[Op], *,
            supersede: bool = True) -> list[Op]:
    """Store ``ops`` (a fresh plan of one entity); return the ops to send, reusing known keys. Call it in
    a transaction (on Postgres it holds the entity's outbox until the commit).

    A key already ``sent`` or ``rejected`` is not sent again; open ops the plan no longer
    produces are ``superseded`` (the record changed again, or was pushed some other way).
    ``supersede=False``: ``ops`` are one part of the plan; :func:`supersede_others` follows the last part.
    """
    from crmsync.store import engine

    planned = list(ops)
    if engine(con) == "postgres":
        # Workers sharing the store enqueue one connection's entity one at a time (until the caller's
        # transaction ends), so the second sees the first's rows and reuses them instead of adding its own
        # copy of each op under new ids, which both would then send.
        con.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [f"crmsync:outbox:{connection}:{entity}"])
    known: dict[str, Op] = {}
    keys = [o.idempotency_key for o in planned]
    if keys:
        for row in con.execute(_select("idempotency_key IN (SELECT unnest(?)) ORDER BY created_at"), [keys]).fetchall():
            known[row[_COLUMNS.index("idempotency_key")]] = _from_row(row)
    out: list[Op] = []
    new: list[dict[str, Any]] = []
    for op in planned:
        old = known.get(op.idempotency_key)
        if old is None:
            new.append({"run_id": run_id, "op_id": op.op_id, "connection": op.connection, "entity": op.entity,
                        "canonical_id": op.canonical_id, "remote_id": op.remote_id, "kind": op.kind,
                        "fields": _dumps(op.fields), "values": _dumps(op.values), "payload": _dumps(op.payload),
                        "idempotency_key": op.idempotency_key, "status": op.status, "attempts": op.attempts})
            out.append(op)
        elif old.status in OPEN:
            # still open: a worker sharing a Postgres store may have claimed it since it was read
            con.execute("UPDATE sync.outbox SET status = 'pending', run_id = ?, payload = ? WHERE op_id = ? "
                        "AND status IN ('pending', 'failed')", [run_id, _dumps(op.payload), old.op_id])
            old.payload, old.status = op.payload, "pending"
            out.append(old)
    insert_rows(con, "sync.outbox", _NEW_COLUMNS, new)  # one statement however many ops
    if supersede:
        supersede_others(con, connection, entity, [o.op_id for o in out])
    return out


def supersede_others(con: Any, connection: str, entity: str, keep: list[str]) -> None:
    """Open ops of ``entity`` other than ``keep`` (every op a plan enqueued) are ``superseded``."""
    con.execute("UPDATE sync.outbox SET status = 'superseded' WHERE connection = ? AND entity = ? "
                "AND status IN ('pending', 'failed') AND op_id NOT IN (SELECT unnest(?))",
                [connection, entity, keep or [""]])


def _quoted(name: str) -> str:
    return f'"{name}"'


def in_flight(con: Any, connection: str, entity: str) -> list[Op]:
    """Ops that may have reached the CRM with no result recorded: ``sending`` (a run died in the
    call) or ``unknown`` (the answer was lost and the run could not settle it)."""
    rows = con.execute(_select("connection = ? AND entity = ? AND status IN ('sending', 'unknown') "
                               "ORDER BY created_at"), [connection, entity]).fetchall()
    return [_from_row(r) for r in rows]


def mark(con: Any, op_ids: list[str], status: str, error: str | None = None) -> None:
    if not op_ids:
        return
    extra = ", attempts = attempts + 1, sent_at = now()" if status == "sending" else ""
    con.execute(f"UPDATE sync.outbox SET status = ?, last_error = coalesce(?, last_error){extra} "
                "WHERE op_id IN (SELECT unnest(?))", [status, error, op_ids])


def claim(con: Any, ops: list[Op]) -> list[Op]:
    """Mark ``ops`` ``sending`` (committed) just before their HTTP call; return the ones this run holds now.

    A DuckDB store has one writing process, so every op is claimed, as :func:`mark` does. A Postgres store
    is shared by workers on several machines: an op is claimed only while it is still open and no other
    worker's claim has its row locked (``FOR UPDATE SKIP LOCKED``), in one statement, so of two workers that
    planned the same op exactly one sends it and the other goes on without waiting. The connection's run
    lock already keeps two runs of a connection apart; this holds even when that lock was lost mid-run (its
    session to the server dropped) and another worker started.
    """
    from crmsync.locks import check_held
    from crmsync.store import engine

    if not ops:
        return []
    check_held()  # a run whose Postgres advisory lock was lost sends nothing more (crmsync.locks.LockLost)
    if engine(con) != "postgres":
        mark(con, [o.op_id for o in ops], "sending")
        return ops
    got = {r[0] for r in con.execute(
        "UPDATE sync.outbox SET status = 'sending', attempts = attempts + 1, sent_at = now() WHERE op_id IN "
        "(SELECT op_id FROM sync.outbox WHERE op_id IN (SELECT unnest(?)) AND status IN ('pending', 'failed') "
        "FOR UPDATE SKIP LOCKED) RETURNING op_id", [[o.op_id for o in ops]]).fetchall()}
    return [o for o in ops if o.op_id in got]


def mark_sent(con: Any, op: Op, remote_id: str) -> None:
    mark_all_sent(con, [(op, remote_id)])


def mark_all_sent(con: Any, done: list[tuple[Op, str]]) -> None:
    """Record the CRM's agreement to a batch of ops in one statement."""
    if not done:
        return
    con.execute("UPDATE sync.outbox SET status = 'sent', remote_id = d.remote_id, last_error = NULL "
                "FROM (SELECT unnest(?) AS op_id, unnest(?) AS remote_id) d WHERE sync.outbox.op_id = d.op_id",
                [[op.op_id for op, _ in done], [r for _, r in done]])


def lost_create_claimer(con: Any, connection: str, entity: str) -> Callable[[str, dict[str, Any]], str | None] | None:
    """For a pull: a CRM record nobody links to may be one of our creates whose answer was lost
    (the push died after the HTTP call). It is claimed — linked to the canonical row that made it,
    the op marked sent — when its mapped values are exactly the values that op wrote; otherwise the
    pull would take it for someone else's new record and the next push would create it again."""
    from crmsync.canonical.values import get_field, same

    ops = [o for o in in_flight(con, connection, entity) if o.kind == "create"]
    if not ops:
        return None

    def claim(remote_id: str, canonical: dict[str, Any]) -> str | None:
        for op in ops:
            if all(same(get_field(canonical, f), get_field(op.values, f)) for f in op.fields):
                ops.remove(op)
                mark_sent(con, op, remote_id)
                return op.canonical_id
        return None

    return claim
