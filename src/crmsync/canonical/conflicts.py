"""Both sides changed one field since the last agreement: who wins, and the trace in ``sync.conflicts``.

A pull finds a clash when a field's canonical value and the CRM's value both moved away from the
link's base to different values. The pipeline's policy for that field decides:

- ``crm_wins`` / ``local_wins``: that side's value is kept;
- ``newest_wins``: the later change is kept. The CRM's side is the pulled record's ``updated_at``;
  the local side is the canonical row's ``updated_at`` when the edit moved it past the base (an
  app or an SQL edit that sets ``updated_at = now()``). An edit that left ``updated_at`` alone has
  no time, and changes closer together than ``clock_skew_seconds`` are simultaneous: the CRM wins both;
- ``manual``: the local value stays, the push holds the field back, and the conflict waits
  (``status = 'pending'``) until ``crmsync conflicts resolve`` or an SQL update of ``take``
  (``crm`` | ``local`` | ``value`` with ``value``) settles it on the next run.

A field the mapping never writes to this CRM (pull-only) is the CRM's: its value is taken, and the
clash is still recorded. Every clash is a row, resolved or not: nothing is overwritten without a trace.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .tables import CLOCK, CREATED, TABLE, columns
from .values import get_field, plain, put_field, same

POLICIES = ("crm_wins", "local_wins", "newest_wins", "manual")
TAKES = ("crm", "local", "value")
CLOCKS = (CLOCK, CREATED)  # the edit clock newest_wins reads and the creation time: merged as times, no conflict

CONFLICT_COLUMNS = {"conflict_id": "VARCHAR", "run_id": "VARCHAR", "entity": "VARCHAR", "canonical_id": "VARCHAR",
                    "connection": "VARCHAR", "field": "VARCHAR", "base": "JSON", "local": "JSON", "crm": "JSON",
                    "policy": "VARCHAR", "status": "VARCHAR", "resolution": "VARCHAR", "reason": "VARCHAR",
                    "resolved_at": "TIMESTAMPTZ", "resolved_by": "VARCHAR"}


@dataclass(frozen=True)
class Decision:
    take: str        # crm | local | pending
    policy: str
    reason: str


@dataclass(frozen=True)
class ConflictRules:
    """The pipeline's ``conflicts:`` block for one entity, plus the fields its mapping writes."""

    entity: str
    default: str = "crm_wins"
    clock_skew_seconds: float = 5
    fields: dict[str, str] = field(default_factory=dict)
    pushed: frozenset[str] | None = None  # None: every field is written (tests, callers without a mapping)

    @classmethod
    def of(cls, conflicts: Any, entity: str, pushed: Iterable[str] | None = None) -> ConflictRules:
        """``conflicts``: a :class:`crmsync.specs.models.Conflicts` (or None: the CRM wins)."""
        if conflicts is None:
            return cls(entity, pushed=frozenset(pushed) if pushed is not None else None)
        return cls(entity, conflicts.default, conflicts.clock_skew_seconds, dict(conflicts.fields),
                   frozenset(pushed) if pushed is not None else None)

    def policy(self, name: str) -> str:
        """``custom.k`` looks for ``entity.custom.k``, then ``entity.custom``, then the default."""
        top = name.split(".")[0]
        return self.fields.get(f"{self.entity}.{name}") or self.fields.get(f"{self.entity}.{top}") or self.default

    def decide(self, name: str, local_time: Any, crm_time: Any) -> Decision:
        """``local_time``: when the local side was edited, or a function of the field name that says it
        (asked only under newest_wins)."""
        if self.pushed is not None and name not in self.pushed and name.split(".")[0] not in self.pushed:
            return Decision("crm", "pull_only", "the mapping never writes this field to the CRM")
        policy = self.policy(name)
        if policy == "crm_wins":
            return Decision("crm", policy, "the pipeline's policy")
        if policy == "local_wins":
            return Decision("local", policy, "the pipeline's policy")
        if policy == "manual":
            return Decision("pending", policy, "waits for crmsync conflicts resolve")
        return self._newest(local_time(name) if callable(local_time) else local_time, crm_time)

    def _newest(self, local_time: Any, crm_time: Any) -> Decision:
        local, crm = instant(local_time), instant(crm_time)
        if local is None:
            return Decision("crm", "newest_wins", "the local edit has no time of its own (it left updated_at "
                                                  "as last agreed): the CRM's change counts as newer")
        if crm is None:
            return Decision("local", "newest_wins", "the CRM sent no modification time")
        gap = (local - crm).total_seconds()
        if abs(gap) <= self.clock_skew_seconds:
            return Decision("crm", "newest_wins", f"changes {abs(gap):.0f} s apart, within the clock skew of "
                                                  f"{self.clock_skew_seconds:g} s: the CRM wins")
        side = "local" if gap > 0 else "crm"
        return Decision(side, "newest_wins", f"the {side} change is newer by {abs(gap):.0f} s")


def instant(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return None


def _json(value: Any) -> str:
    return json.dumps(plain(value), ensure_ascii=False, default=str)


def settle_clashes(row: dict[str, Any], clashes: list[tuple[str, Any, Any, Any]], rules: ConflictRules, *,
                   local_time: Any, crm_time: Any, run_id: str, canonical_id: str, connection: str
                   ) -> list[dict[str, Any]]:
    """Apply each clash's decision to ``row`` (merged with the CRM's value by default); the conflict rows.
    ``local_time``: when the local side was edited, or a function of the field name that says it."""
    out = []
    for name, was, mine, theirs in clashes:
        if name in CLOCKS:
            continue
        decision = rules.decide(name, local_time, crm_time)
        if decision.policy == "pull_only":
            continue  # the CRM's own value of a field we never write to it: no edit of ours was meant for it
        if decision.take in ("local", "pending"):
            put_field(row, name, mine)
        pending = decision.take == "pending"
        out.append({"conflict_id": uuid.uuid4().hex[:12], "run_id": run_id, "entity": rules.entity,
                    "canonical_id": canonical_id, "connection": connection, "field": name, "base": _json(was),
                    "local": _json(mine), "crm": _json(theirs), "policy": decision.policy,
                    "status": "pending" if pending else "resolved", "resolution": None if pending else decision.take,
                    "reason": decision.reason, "resolved_at": None if pending else _now(),
                    "resolved_by": None if pending else "policy"})
    return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def supersede(con: Any, rows: list[dict[str, Any]]) -> None:
    """A new pending clash on a field replaces the older pending one (the CRM moved again)."""
    for r in rows:
        if r["status"] == "pending":
            con.execute("UPDATE sync.conflicts SET status = 'superseded', resolved_at = now(), "
                        "resolved_by = 'engine', reason = 'a newer clash on this field replaced it' "
                        "WHERE status = 'pending' AND entity = ? AND canonical_id = ? AND field = ?",
                        [r["entity"], r["canonical_id"], r["field"]])


def supersede_all(con: Any, rows: list[dict[str, Any]]) -> None:
    """:func:`supersede` for a chunk's clashes in one statement."""
    pending = [r for r in rows if r["status"] == "pending"]
    if not pending:
        return
    con.execute("UPDATE sync.conflicts SET status = 'superseded', resolved_at = now(), resolved_by = 'engine', "
                "reason = 'a newer clash on this field replaced it' FROM (SELECT unnest(?) AS entity, "
                "unnest(?) AS canonical_id, unnest(?) AS field) p WHERE sync.conflicts.status = 'pending' "
                "AND sync.conflicts.entity = p.entity AND sync.conflicts.canonical_id = p.canonical_id "
                "AND sync.conflicts.field = p.field",
                [[r["entity"] for r in pending], [r["canonical_id"] for r in pending], [r["field"] for r in pending]])


def held_fields(con: Any, entity: str) -> dict[str, set[str]]:
    """canonical id → fields a push must not send while a manual conflict waits (for every CRM)."""
    out: dict[str, set[str]] = {}
    for cid, name in con.execute("SELECT canonical_id, field FROM sync.conflicts WHERE status = 'pending' "
                                 "AND entity = ?", [entity]).fetchall():
        out.setdefault(cid, set()).add(name)
    return out


@dataclass
class Settled:
    conflict_id: str
    entity: str
    canonical_id: str
    field: str
    resolution: str
    value: Any


def settle_pending(con: Any, canonical: dict[str, dict[str, Any]], *, by: str = "sql") -> list[Settled]:
    """Carry out the choices people made (``take`` set by SQL or the CLI) on pending conflicts, and
    close the ones whose sides now agree. The caller commits."""
    from .apply import CHANGE_COLUMNS, current_rows, insert_rows, upsert_rows

    rows = con.execute("SELECT conflict_id, entity, canonical_id, connection, field, \"local\", crm, take, "
                       "\"value\", resolved_by FROM sync.conflicts WHERE status = 'pending' "
                       "ORDER BY created_at").fetchall()
    done: list[Settled] = []
    for conflict_id, entity, cid, connection, name, local, crm, take, value, who in rows:
        if entity not in canonical:
            continue
        cols = columns(canonical[entity])
        current = current_rows(con, entity, cols, [cid]).get(cid)
        if current is None:
            continue
        base = _base(con, entity, connection, cid)
        now = plain(get_field(current, name))
        if take is None:
            if base is not None and same(now, get_field(base, name)):
                _close(con, conflict_id, "agreed", "engine", "the value is the CRM's again")
                done.append(Settled(conflict_id, entity, cid, name, "agreed", now))
            elif not same(now, json.loads(local or "null")) and not same(now, json.loads(crm or "null")):
                # Edited again since the clash: that newer edit is what the row means now, and the push
                # (no longer holding the field back) sends it; the old question has no answer to wait for.
                con.execute("UPDATE sync.conflicts SET status = 'superseded', resolved_at = now(), "
                            "resolved_by = 'engine', reason = coalesce(reason || '; ', '') || ? "
                            "WHERE conflict_id = ?",
                            ["a newer edit of the field since the clash replaced it", conflict_id])
                done.append(Settled(conflict_id, entity, cid, name, "superseded", now))
            continue
        if take not in TAKES:
            _refuse_take(con, conflict_id, entity, name, take)
            continue
        # ``local`` is the row's value now, not the one captured at the clash: an edit since is not reverted.
        chosen = now if take == "local" else json.loads({"crm": crm, "value": value}[take] or "null")
        old = now
        if not same(old, chosen):
            put_field(current, name, chosen)
            current["version"] = int(current.get("version") or 0) + 1
            upsert_rows(con, f"canonical.{TABLE[entity]}", cols, [current],
                        key=["id"])
            insert_rows(con, "sync.changes", CHANGE_COLUMNS,
                        [{"run_id": f"resolve-{conflict_id}", "entity": entity, "canonical_id": cid, "field": name,
                          "old": _json(old), "new": _json(chosen), "side": "resolve",
                          "edited_at": _now()}])  # a decision is an edit, made now
        _close(con, conflict_id, take, who or by, f"resolved: took {take}")
        done.append(Settled(conflict_id, entity, cid, name, take, chosen))
    return done


def _refuse_take(con: Any, conflict_id: str, entity: str, name: str, take: Any) -> None:
    """A ``take`` set by SQL that means nothing: said on every run (and kept in ``reason``, which
    ``crmsync conflicts list`` shows) instead of silently leaving the field held."""
    from crmsync.waiting import notify

    allowed = ", ".join(sorted(TAKES))
    reason = f"take {take!r} is not one of: {allowed}; the field stays held until take is one of them"
    con.execute("UPDATE sync.conflicts SET reason = ? WHERE conflict_id = ?", [reason, conflict_id])
    notify(f"conflict {conflict_id} ({entity}.{name}): {reason} "
           f"(UPDATE sync.conflicts SET take = 'local' WHERE conflict_id = '{conflict_id}', or crmsync conflicts "
           "resolve)")


def _close(con: Any, conflict_id: str, resolution: str, by: str, reason: str) -> None:
    con.execute("UPDATE sync.conflicts SET status = 'resolved', resolution = ?, resolved_at = now(), "
                "resolved_by = ?, reason = coalesce(reason || '; ', '') || ? WHERE conflict_id = ?",
                [resolution, by, reason, conflict_id])


def _base(con: Any, entity: str, connection: str, cid: str) -> dict[str, Any] | None:
    got = con.execute("SELECT base FROM sync.links WHERE entity = ? AND connection = ? AND canonical_id = ? "
                      "AND base IS NOT NULL", [entity, connection, cid]).fetchone()
    return json.loads(got[0]) if got else None
