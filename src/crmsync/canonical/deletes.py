"""Records the CRM no longer has: mark the link, and the canonical row as the pipeline's ``deletes`` says.

Used by a pull (the CRM's delete feed or ID scan found them) and by a push (the CRM answered "not
found" to an update: deleted in between). Whatever the setting, the link gets ``remote_deleted_at``,
so no push writes to that record again and the delete scan stops asking about it:

* ``soft`` and ``hard``: the canonical row gets ``deleted_at`` (rows are never removed: they hold the
  history, and under ``hard`` they are what carries the deletion to the pipeline's other CRMs);
* ``never``: the canonical row is left as it is.

A local edit the CRM never received is not dropped silently: each such field becomes a
``sync.conflicts`` row with resolution ``deleted_in_crm`` (local value, base, CRM null). The values
themselves stay on the deleted row.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from .apply import CHANGE_COLUMNS, insert_rows
from .conflicts import CLOCKS, CONFLICT_COLUMNS
from .tables import TABLE
from .values import plain, same

ENGINE = ("id", "version", "deleted_at")


def apply_remote_deletes(con: Any, *, entity: str, connection: str, run_id: str, cols: dict[str, str],
                         deleted: Mapping[str, dt.datetime | None], mode: str,
                         pushed: Iterable[str] | None = None) -> int:
    """``deleted``: remote id → when the CRM deleted it (None: just now, e.g. an ID scan);
    ``pushed``: the fields the pipeline writes to this CRM (None: every field) — only an edit of one
    of those was meant for it.

    A deletion older than the record's last modification we read is stale (restored since, and the
    feed re-reads its boundary second): ignored. Returns how many canonical rows got ``deleted_at``.
    """
    if not deleted:
        return 0
    table = f"canonical.{TABLE[entity]}"
    names = list(cols)
    picked = ", ".join(f'c."{n}"' for n in names)
    rows = con.execute(
        f"SELECT l.remote_id, l.base, l.remote_updated_at, c.id IS NOT NULL, {picked} FROM sync.links l "
        f"LEFT JOIN {table} c ON c.id = l.canonical_id WHERE l.entity = ? AND l.connection = ? "
        "AND l.remote_id IN (SELECT unnest(?)) AND l.remote_deleted_at IS NULL",
        [entity, connection, sorted(deleted)]).fetchall()
    gone, targets, lost = [], [], []
    for remote_id, base, remote_updated_at, exists, *values in rows:
        when = deleted[remote_id]
        if when is not None and remote_updated_at is not None and remote_updated_at > when:
            continue
        gone.append(remote_id)
        row = dict(zip(names, values, strict=True))
        if not exists or row["deleted_at"] is not None or mode == "never":
            continue
        targets.append(row["id"])
        lost.extend(_unsent_edits(run_id, entity, connection, row, json.loads(base) if base else {}, cols,
                                  None if pushed is None else frozenset(pushed)))
    if not gone:
        return 0
    con.execute("UPDATE sync.links SET remote_deleted_at = now() WHERE entity = ? AND connection = ? "
                "AND remote_id IN (SELECT unnest(?))", [entity, connection, gone])
    if targets:
        con.execute(f"UPDATE {table} SET deleted_at = now(), version = version + 1 WHERE id IN (SELECT unnest(?))",
                    [targets])
        insert_rows(con, "sync.changes", CHANGE_COLUMNS,
                    [{"run_id": run_id, "entity": entity, "canonical_id": cid, "field": "deleted_at", "old": "null",
                      "new": json.dumps("deleted"), "side": f"crm:{connection}"} for cid in targets])
        insert_rows(con, "sync.conflicts", CONFLICT_COLUMNS, lost)
        # A manual conflict waiting on a record the CRM deleted has nothing left to decide.
        con.execute("UPDATE sync.conflicts SET status = 'superseded', resolved_at = now(), resolved_by = 'engine', "
                    "reason = 'the CRM deleted the record' WHERE status = 'pending' AND entity = ? "
                    "AND canonical_id IN (SELECT unnest(?))", [entity, targets])
    return len(targets)


def pushed_fields(mapping: Any) -> list[str]:
    """The canonical fields a mapping (crmsync.mapping.MappingSpec) writes to its CRM."""
    return [f.name for f in mapping.fields if f.pushes]


def _unsent_edits(run_id: str, entity: str, connection: str, row: dict[str, Any], base: dict[str, Any],
                  cols: dict[str, str], pushed: frozenset[str] | None) -> list[dict[str, Any]]:
    """Fields whose canonical value differs from what this CRM last agreed: it will never get them now.
    A field this CRM never held, or one never written to it (pull-only: its times, a company another
    CRM brought), is not an edit meant for it."""
    out = []
    for name in cols:
        if name in ENGINE or name in CLOCKS or name not in base:
            continue
        if pushed is not None and name not in pushed and not any(p.startswith(f"{name}.") for p in pushed):
            continue
        mine = row.get(name)
        if isinstance(mine, str) and cols[name] == "JSON":
            mine = json.loads(mine)
        pairs = ([(f"{name}.{k}", (mine or {}).get(k), v) for k, v in base[name].items()]
                 if isinstance(base[name], dict) and isinstance(mine, dict | None) else [(name, mine, base[name])])
        if pushed is not None and name not in pushed:  # custom.<key>: only the keys written to this CRM
            pairs = [p for p in pairs if p[0] in pushed]
        out.extend({"conflict_id": uuid.uuid4().hex[:12], "run_id": run_id, "entity": entity,
                    "canonical_id": row["id"], "connection": connection, "field": field, "base": _json(was),
                    "local": _json(now), "crm": "null", "policy": "deletes", "status": "resolved",
                    "resolution": "deleted_in_crm", "reason": "the CRM deleted the record before this edit reached "
                    "it; the value stays on the deleted row", "resolved_at": dt.datetime.now(dt.timezone.utc),
                    "resolved_by": "engine"} for field, now, was in pairs if not same(now, was))
    return out


def _json(value: Any) -> str:
    return json.dumps(plain(value), ensure_ascii=False, default=str)
