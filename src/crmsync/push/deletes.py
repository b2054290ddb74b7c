"""Deletions a push sends (``deletes: hard``) and records the CRM no longer has.

A ``delete`` op is planned for a canonical row that was deleted locally (``deleted_at`` set), is
linked to this connection, and whose CRM record is not known to be gone (``remote_deleted_at``
unset). Once the CRM agrees — or says the record does not exist, which is the same end — the link
gets ``remote_deleted_at``, so the next push plans nothing for it.

An update or delete the CRM answers with "not found" (the record was deleted there after our last
pull) is never retried: its op becomes ``gone`` and the record is handled as a deletion the pull
found (crmsync.canonical.deletes), so it is neither re-created nor sent again.
"""

from __future__ import annotations

import json
from typing import Any

from crmsync.canonical.apply import CHANGE_COLUMNS, insert_rows
from crmsync.canonical.deletes import apply_remote_deletes
from crmsync.canonical.tables import TABLE

from .outbox import Op, mark, mark_sent
from .plan import keyed
from .writer import Outcome


def plan_deletes(con: Any, *, entity: str, connection: str, mode: str) -> list[Op]:
    """``delete`` ops for rows deleted locally, when the pipeline's ``deletes`` is ``hard``."""
    if mode != "hard":
        return []
    rows = con.execute(
        f"SELECT l.remote_id, l.canonical_id, l.base_hash FROM sync.links l "
        f"JOIN canonical.{TABLE[entity]} c ON c.id = l.canonical_id "
        "WHERE l.entity = ? AND l.connection = ? AND c.deleted_at IS NOT NULL AND l.remote_deleted_at IS NULL "
        "AND l.base IS NOT NULL ORDER BY l.canonical_id", [entity, connection]).fetchall()
    ops = [Op(kind="delete", entity=entity, connection=connection, canonical_id=cid, remote_id=remote_id, fields=[],
              values={}, payload={}, idempotency_key="") for remote_id, cid, _ in rows]
    return keyed(con, ops, {cid: base_hash for _, cid, base_hash in rows})


def record_deletes(con: Any, *, run_id: str, entity: str, connection: str, outcomes: list[Outcome]) -> list[Outcome]:
    """Links and history of the deletes the CRM carried out (or found already done); the refused are returned."""
    done = [o for o in outcomes if o.ok or o.gone]
    if done:
        con.execute("UPDATE sync.links SET remote_deleted_at = now() WHERE entity = ? AND connection = ? "
                    "AND remote_id IN (SELECT unnest(?))", [entity, connection, [str(o.op.remote_id) for o in done]])
        insert_rows(con, "sync.changes", CHANGE_COLUMNS,
                    [{"run_id": run_id, "entity": entity, "canonical_id": o.op.canonical_id, "field": "deleted_at",
                      "old": "null", "new": json.dumps("deleted"), "side": f"local→{connection}"} for o in done])
        for o in done:
            mark_sent(con, o.op, str(o.op.remote_id))
    return [o for o in outcomes if not (o.ok or o.gone)]


def record_gone(con: Any, *, run_id: str, entity: str, connection: str, cols: dict[str, str],
                outcomes: list[Outcome], mode: str, pushed: list[str] | None = None) -> None:
    """Updates refused because the CRM record was deleted in between: handled as that deletion."""
    for o in outcomes:
        mark(con, [o.op.op_id], "gone", o.error)
    apply_remote_deletes(con, entity=entity, connection=connection, run_id=run_id, cols=cols,
                         deleted=dict.fromkeys(str(o.op.remote_id) for o in outcomes), mode=mode, pushed=pushed)
