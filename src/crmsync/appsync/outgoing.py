"""An app's pushed changes (WatermelonDB's ``changes``), applied to the tenant's canonical tables.

Each record is checked against the canonical schema first: a bad one is rejected with its id, the
field and the reason, and the rest are applied. A record is merged *per field* with the engine's own
three-way merge (:func:`crmsync.canonical.apply.merge_fields`): the base is the record as this client
last pulled it (``sync.app_history`` at ``last_pulled_at``), the app's side is the columns WatermelonDB
lists in ``_changed`` (every column that differs from the base when it sends none), the other side is
the row now. A field only the app changed takes the app's value; a field changed on both sides to
different values is a clash settled by the pipeline's conflict policy (:mod:`crmsync.canonical.conflicts`;
the app is the *local* side, the row's value the other) and recorded in ``sync.conflicts`` (connection
``app``). Every change is a ``sync.changes`` row with side ``app``; the next sync sends it to the CRMs.

A retried push changes nothing twice: records are keyed by their id (a created record's id is the
client's, and becomes the canonical id), a value already there is no change, and a clash already
recorded with the same values is not recorded again.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from crmsync.canonical.apply import (
    CHANGE_COLUMNS,
    current_rows,
    field_edit_time,
    insert_rows,
    merge_fields,
    upsert_rows,
)
from crmsync.canonical.conflicts import CONFLICT_COLUMNS, ConflictRules, settle_clashes, supersede
from crmsync.canonical.tables import CLOCK, CREATED, TABLE, columns
from crmsync.canonical.values import plain, same
from crmsync.jsontext import dumps
from crmsync.mapping.canonical import CanonicalCheck
from crmsync.mapping.errors import Rejection

from . import changefeed
from .schema import AppSchema, from_app

ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,128}$")
KINDS = ("created", "updated", "deleted")


class BadPush(ValueError):
    """The push as a whole is malformed (not a record's problem): a 400."""


@dataclass
class PushResult:
    push_id: str
    applied: dict[str, dict[str, int]] = field(default_factory=dict)
    unchanged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    touched: dict[str, set[str]] = field(default_factory=dict)   # entity → canonical ids written

    def as_dict(self) -> dict[str, Any]:
        rejected_ids: dict[str, list[str]] = {}
        for r in self.rejected:
            rejected_ids.setdefault(r["table"], []).append(r["id"])
        return {"push_id": self.push_id, "applied": self.applied, "unchanged": self.unchanged,
                "rejected": self.rejected, "conflicts": self.conflicts,
                # WatermelonDB's pushChanges may return this: those records stay unsynced on the client
                "experimentalRejectedIds": rejected_ids}


def check_shape(changes: Any, app: AppSchema) -> dict[str, dict[str, list[Any]]]:
    if not isinstance(changes, dict):
        raise BadPush("`changes` must be an object of tables")
    unknown = sorted(set(changes) - set(app.tables))
    if unknown:
        raise BadPush(f"unknown table(s) {', '.join(unknown)}; the app schema has: {', '.join(app.tables)}")
    out = {}
    for table, body in changes.items():
        if not isinstance(body, dict) or set(body) - set(KINDS):
            raise BadPush(f"changes.{table} must be an object with created, updated and deleted lists")
        for kind in KINDS:
            if not isinstance(body.get(kind, []), list):
                raise BadPush(f"changes.{table}.{kind} must be a list")
        out[table] = {kind: list(body.get(kind) or []) for kind in KINDS}
    return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def apply_push(con: Any, app: AppSchema, canonical: dict[str, dict[str, Any]], changes: dict[str, dict[str, list[Any]]],
               *, pulled: int | None, rules: dict[str, ConflictRules], scan: bool = True) -> PushResult:
    """Apply ``changes`` (checked by :func:`check_shape`). The caller holds the tenant's lock and commits;
    ``scan=False`` when it knows no row changed since the last change scan."""
    result = PushResult(f"app-{uuid.uuid4().hex[:12]}")
    if scan:
        changefeed.observe(con, app, canonical)  # the rows as they are now are the versions clients may have
    for table, body in changes.items():
        entity = app.tables[table]
        _Table(con, app, canonical[entity], table, entity, rules.get(entity) or ConflictRules(entity),
               pulled, result).apply(body)
    return result


class _Table:
    def __init__(self, con: Any, app: AppSchema, schema: dict[str, Any], table: str, entity: str,
                 rules: ConflictRules, pulled: int | None, result: PushResult) -> None:
        self.con, self.table, self.entity, self.rules = con, table, entity, rules
        self.pulled, self.result = pulled, result
        self.cols = columns(schema)
        self.app_cols = app.columns[table]
        self.props = schema.get("properties") or {}
        self.check = CanonicalCheck(schema)
        self.counts = result.applied.setdefault(table, {"created": 0, "updated": 0, "deleted": 0})
        self.upserts: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.conflicts: list[dict[str, Any]] = []

    def reject(self, rid: Any, name: str, reason: str) -> None:
        self.result.rejected.append({"table": self.table, "id": str(rid)[:128], "field": name, "reason": reason})

    def apply(self, body: dict[str, list[Any]]) -> None:
        records: list[dict[str, Any]] = []
        for kind in ("created", "updated"):
            for rec in body[kind]:
                if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or not ID.match(rec["id"]):
                    self.reject(rec.get("id") if isinstance(rec, dict) else "", "id",
                                "a record needs an id of 1-128 letters, digits or _-.:")
                    continue
                records.append(rec)
        deleted = []
        for rid in body["deleted"]:
            if isinstance(rid, str) and ID.match(rid):
                deleted.append(rid)
            else:
                self.reject(rid, "id", "a deleted id must be 1-128 letters, digits or _-.:")
        ids = [r["id"] for r in records] + deleted
        current = current_rows(self.con, self.entity, self.cols, ids)
        bases = changefeed.bases(self.con, self.entity, ids, self.pulled)
        seen: set[str] = set()
        for rec in records:
            if rec["id"] in seen:
                self.reject(rec["id"], "id", "the same record twice in one push")
                continue
            seen.add(rec["id"])
            try:
                self._one(rec, current.get(rec["id"]), bases)
            except Rejection as exc:
                self.reject(rec["id"], exc.field, exc.reason)
        for rid in deleted:
            self._delete(rid, current.get(rid))
        self.result.touched.setdefault(self.entity, set()).update(
            [r["id"] for r in self.upserts] + [h["canonical_id"] for h in self.history])
        upsert_rows(self.con, f"canonical.{TABLE[self.entity]}", self.cols, self.upserts, key=["id"])
        insert_rows(self.con, "sync.changes", CHANGE_COLUMNS, self.history)
        supersede(self.con, self.conflicts)
        insert_rows(self.con, "sync.conflicts", CONFLICT_COLUMNS, self.conflicts)

    # -- one record ---------------------------------------------------------------------------------
    def _decode(self, rec: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, enc in self.app_cols.items():
            if name not in rec:
                continue
            value = from_app(rec[name], enc, name)
            if value is None and self._kind(name) in ("array", "object"):
                value = [] if self._kind(name) == "array" else {}  # WatermelonDB sends null for an unset column
            out[name] = value
        return out

    def _kind(self, name: str) -> Any:
        return (self.props.get(name) or {}).get("type")

    def _changed(self, rec: dict[str, Any]) -> set[str] | None:
        raw = rec.get("_changed")
        if raw is None or raw == "":
            return None if raw is None else set()
        names = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else None
        if names is None:
            raise Rejection("_changed must be a comma-separated list of column names", "_changed", "app")
        return {n.strip() for n in names if isinstance(n, str) and n.strip() in self.app_cols}

    def _validate(self, row: dict[str, Any]) -> None:
        # a Decimal stays one: its exact digits are what the scale check reads
        record = {k: v if isinstance(v, Decimal) else plain(v) for k, v in row.items()
                  if k not in ("id", "version", "deleted_at")}
        self.check(record, "app")

    def _one(self, rec: dict[str, Any], old: dict[str, Any] | None, bases: dict[str, Any]) -> None:
        rid = rec["id"]
        app_values = self._decode(rec)
        edited = app_values.pop(CLOCK, None)
        made = app_values.pop(CREATED, None)
        if old is None:
            row = {name: None for name in self.cols}
            for name in self.cols:
                if self._kind(name) == "array":
                    row[name] = []
                elif self._kind(name) == "object":
                    row[name] = {}
            row.update(app_values)
            now = _now()
            row.update(id=rid, version=1, deleted_at=None)
            row[CREATED] = made or edited or now
            row[CLOCK] = edited or now
            self._validate(row)
            self.upserts.append(row)
            self.history.append({"run_id": self.result.push_id, "entity": self.entity, "canonical_id": rid,
                                 "field": "*", "old": None, "new": dumps(_public(row)), "side": "app",
                                 "edited_at": row[CLOCK]})
            self.counts["created"] += 1
            return
        if old.get("deleted_at") is not None:
            self.result.conflicts.append({"table": self.table, "id": rid, "field": "*", "policy": None,
                                          "resolution": "deleted_on_server",
                                          "reason": "the record was deleted on the server; the next pull removes it"})
            return
        server = {name: plain(old.get(name)) for name in self.app_cols if name not in (CLOCK, CREATED)}
        if rid in bases and bases[rid] is not None:
            base = self._decode({k: v for k, v in bases[rid].items() if k != "_changed"})
        else:
            base = dict(server)  # never pulled by this client (its own create, retried): the row is its base
        base = {k: v for k, v in base.items() if k in server}
        changed = self._changed(rec)
        mine = {name: (app_values[name] if name in app_values and (changed is None or name in changed)
                       else base.get(name)) for name in server}
        merged, clashes = merge_fields(mine, base, server, {n: "" for n in server})
        row = {name: old.get(name) for name in self.cols}
        row.update(merged)
        conflict_rows = []
        for clash in clashes:
            crm_time = field_edit_time(self.con, self.entity, rid, clash[0], old, old.get(CLOCK))
            conflict_rows += settle_clashes(row, [clash], self.rules, local_time=edited, crm_time=crm_time,
                                            run_id=self.result.push_id, canonical_id=rid, connection="app")
        diffs = [n for n in server if not same(row.get(n), old.get(n))]
        for c in conflict_rows:
            if not self._known_conflict(c):
                self.conflicts.append(c)
            self.result.conflicts.append({"table": self.table, "id": rid, "field": c["field"], "policy": c["policy"],
                                          "resolution": c["resolution"] or "pending", "reason": c["reason"]})
        if not diffs:
            self.result.unchanged += 1
            return
        self._validate(row)
        when = edited or _now()
        row[CLOCK] = max((t for t in (plain(old.get(CLOCK)), when) if t), default=when)
        row["version"] = int(old.get("version") or 0) + 1
        self.upserts.append(row)
        for name in diffs:
            self.history.append({"run_id": self.result.push_id, "entity": self.entity, "canonical_id": rid,
                                 "field": name, "old": dumps(plain(old.get(name))), "new": dumps(plain(row.get(name))),
                                 "side": "app", "edited_at": when})
        self.counts["updated"] += 1

    def _known_conflict(self, c: dict[str, Any]) -> bool:
        """The same clash from a retried push: recorded once."""
        got = self.con.execute("SELECT 1 FROM sync.conflicts WHERE connection = 'app' AND entity = ? AND "
                               "canonical_id = ? AND field = ? AND CAST(\"local\" AS VARCHAR) = ? AND "
                               "CAST(crm AS VARCHAR) = ? LIMIT 1",
                               [c["entity"], c["canonical_id"], c["field"], c["local"], c["crm"]]).fetchone()
        return got is not None

    def _delete(self, rid: str, old: dict[str, Any] | None) -> None:
        if old is None or old.get("deleted_at") is not None:
            return  # never here, or already deleted (a retried push)
        now = _now()
        self.con.execute(f"UPDATE canonical.{TABLE[self.entity]} SET deleted_at = ?, version = version + 1 "
                         "WHERE id = ?", [now, rid])
        self.history.append({"run_id": self.result.push_id, "entity": self.entity, "canonical_id": rid,
                             "field": "deleted_at", "old": "null", "new": dumps(now), "side": "app", "edited_at": now})
        self.counts["deleted"] += 1


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in row.items() if k not in ("version", "deleted_at")}
