"""``crmsync conflicts list|resolve``: the clashes a person looks at, and the decisions they make.

Resolving sets ``take`` (``crm`` | ``local`` | ``value``) on pending rows of ``sync.conflicts``
and carries it out at once (:func:`crmsync.canonical.conflicts.settle_pending`): the canonical
row gets the chosen value, a history row in ``sync.changes`` says so, and the next push writes it
to the CRMs whose base differs. The same ``UPDATE sync.conflicts SET take = …`` in SQL is carried
out by the next pull, push or sync.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from crmsync.canonical.conflicts import settle_pending
from crmsync.canonical.tables import ensure
from crmsync.errors import UserError
from crmsync.project import DEFAULT_STORE, Project
from crmsync.store import open_store, store_exists

SHOWN = ("conflict_id", "entity", "canonical_id", "connection", "field", "base", "local", "crm", "policy", "status",
         "resolution", "reason", "created_at", "resolved_at", "resolved_by")


@dataclass
class ConflictList:
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ResolveResult:
    resolved: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stores(project: Project) -> list[str]:
    """The stores the project's pipelines write to (usually one)."""
    from crmsync.specs.project_specs import load_specs

    specs = load_specs(project)
    from crmsync.store import store_name

    names = {store_name(p) for p in specs.pipelines.values()}
    return sorted(names) or [DEFAULT_STORE]


def list_conflicts(project: Project, *, everything: bool = False, entity: str | None = None,
                   limit: int = 100) -> ConflictList:
    out = ConflictList()
    for store in stores(project):
        path = project.store_path(store)
        if not store_exists(path):
            continue
        with open_store(path, read_only=True) as con:  # listing never needs (or waits for) write access
            present = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                                 "table_schema = 'sync' AND table_name = 'conflicts'").fetchall()}
            if "status" not in present:
                continue  # no conflict recorded yet (or a store older than conflict resolution)
            where, args = ["1 = 1" if everything else "status = 'pending'"], []
            if entity:
                where.append("entity = ?")
                args.append(entity)
            out.pending += con.execute("SELECT count(*) FROM sync.conflicts WHERE status = 'pending'").fetchone()[0]
            shown = ", ".join(_q(c) if c in present else "NULL" for c in SHOWN)
            rows = con.execute(f"SELECT {shown} FROM sync.conflicts "
                               f"WHERE {' AND '.join(where)} ORDER BY created_at DESC LIMIT ?",
                               [*args, limit]).fetchall()
            for row in rows:
                rec = dict(zip(SHOWN, row, strict=True))
                for name in ("base", "local", "crm"):
                    rec[name] = json.loads(rec[name]) if rec[name] is not None else None
                for name in ("created_at", "resolved_at"):
                    rec[name] = rec[name].isoformat() if rec[name] else None
                out.conflicts.append(rec)
    return out


def resolve(project: Project, *, ids: list[str], take: str | None, value: Any = None, has_value: bool = False,
            every_pending: bool = False, entity: str | None = None, field_name: str | None = None) -> ResolveResult:
    """Decide pending conflicts: ``take`` one side, or set ``value``; by id, or every pending one that
    matches ``entity`` / ``field_name`` with ``every_pending``."""
    from crmsync.mapping import load_canonical

    if has_value == (take is not None):
        raise UserError("say what to keep: --take crm, --take local, or --value JSON (one of them)")
    if take is not None and take not in ("crm", "local"):
        raise UserError(f"--take {take!r} is not one of: crm, local")
    if not ids and not every_pending:
        raise UserError("name the conflicts to resolve (ids from `crmsync conflicts list`), or use --all")
    canonical = load_canonical(project.root)
    chosen = "value" if has_value else take
    result = ResolveResult()
    found: set[str] = set()
    for store in stores(project):
        path = project.store_path(store)
        if not store_exists(path):
            continue
        with open_store(path) as con:
            ensure(con, canonical)
            where, args = ["status = 'pending'"], []
            if ids:
                where.append("conflict_id IN (SELECT unnest(?))")
                args.append(ids)
            if entity:
                where.append("entity = ?")
                args.append(entity)
            if field_name:
                where.append("field = ?")
                args.append(field_name)
            targets = con.execute(f"SELECT conflict_id, entity, field FROM sync.conflicts WHERE {' AND '.join(where)}",
                                  args).fetchall()
            if has_value:
                for _, ent, name in targets:
                    _check_value(canonical, ent, name, value)
            con.execute("BEGIN")
            for conflict_id, *_ in targets:
                con.execute("UPDATE sync.conflicts SET take = ?, \"value\" = ?, resolved_by = 'cli' "
                            "WHERE conflict_id = ?",
                            [chosen, json.dumps(value, ensure_ascii=False) if has_value else None, conflict_id])
            wanted = {t[0] for t in targets}
            settled = [s for s in settle_pending(con, canonical, by="cli") if s.conflict_id in wanted]
            con.execute("COMMIT")
            found |= wanted
            result.resolved += [asdict(s) for s in settled]
    missing = [i for i in ids if i not in found]
    if missing:
        raise UserError(f"no pending conflict {', '.join(missing)}"
                        + (f" (resolved: {', '.join(r['conflict_id'] for r in result.resolved)})"
                           if result.resolved else "") + "; `crmsync conflicts list --all` shows every conflict")
    return result


def _check_value(canonical: dict[str, dict[str, Any]], entity: str, name: str, value: Any) -> None:
    """The value a person types must be one the canonical schema allows for that field."""
    from crmsync.mapping.canonical import CanonicalValidator

    props = (canonical.get(entity) or {}).get("properties") or {}
    top, _, sub = name.partition(".")
    schema = props.get(top) or {}
    if sub:
        schema = (schema.get("properties") or {}).get(sub) or schema.get("additionalProperties") or {}
    errors = sorted(CanonicalValidator(schema).iter_errors(value), key=str)
    if errors:
        raise UserError(f"--value {json.dumps(value, ensure_ascii=False)} is not a valid {entity}.{name}: "
                        f"{errors[0].message}")


def _q(name: str) -> str:
    return f'"{name}"'
