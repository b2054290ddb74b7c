"""``crmsync runs`` and the runs in ``crmsync status``: ``sync.runs`` rows as plain dicts (the CLI's
``--json`` and ``crmsync serve`` share them). A sync is one row with its pull and push parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmsync.project import Project

_COLUMNS = "run_id, pipeline, connection, kind, started_at, finished_at, status, counts, error"


def has_runs(con: Any) -> tuple[bool, bool]:
    """Whether the store has sync.runs yet, and whether it has the ``parts`` column (a store written by
    an older release, opened read-only, has not been migrated)."""
    cols = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_schema = 'sync' AND table_name = 'runs'").fetchall()}
    return bool(cols), "parts" in cols


def run_rows(con: Any, *, pipeline: str | None = None, limit: int | None = None, latest_per_kind: bool = False,
             held: set[str] | None = None) -> list[dict[str, Any]]:
    """Runs, newest first. ``held``: connections whose run lock is held right now (a ``running`` row of
    any other connection belongs to a run that died: it reads ``interrupted``)."""
    from crmsync.runs import issues_of, loads_or_empty

    exists, with_parts = has_runs(con)
    if not exists:
        return []
    where, params = ("WHERE pipeline = ?", [pipeline]) if pipeline else ("", [])
    qualify = "QUALIFY row_number() OVER (PARTITION BY kind ORDER BY started_at DESC) = 1" if latest_per_kind else ""
    sql = (f"SELECT {_COLUMNS}, {'parts' if with_parts else 'NULL'} FROM sync.runs {where} {qualify} "
           f"ORDER BY started_at DESC" + (f" LIMIT {int(limit)}" if limit else ""))
    out = []
    for run_id, pipe, connection, kind, started, finished, status, counts, error, parts in con.execute(
            sql, params).fetchall():
        entities = loads_or_empty(counts)
        if status == "running" and connection not in (held or set()):
            status = "interrupted"
        out.append({"run_id": run_id, "pipeline": pipe, "connection": connection, "kind": kind, "status": status,
                    "started_at": started, "finished_at": finished,
                    "seconds": round((finished - started).total_seconds(), 3) if finished and started else None,
                    "issues": issues_of(entities), "entities": entities, "parts": loads_or_empty(parts),
                    "error": error})
    return out


def held_connections(project: Project, connections: set[str], dsn: str | None = None) -> set[str]:
    """Connections whose run lock another process holds now (crmsync.runs.run_lock; ``dsn``: the
    pipelines' Postgres store, whose advisory locks they take instead of lock files)."""
    from crmsync.locks import mutex

    return {name for name in connections if mutex(project, f"run-{name}", dsn).held_elsewhere()}


@dataclass
class RunsResult:
    runs: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"runs": self.runs}


def list_runs(project: Project, *, pipeline: str | None = None, limit: int | None = 20) -> RunsResult:
    """The newest ``limit`` runs of ``pipeline`` (or of every pipeline), from each store they use."""
    from crmsync.locks import store_dsn
    from crmsync.specs.project_specs import load_specs
    from crmsync.store import open_store, store_exists

    specs = load_specs(project)
    chosen = pick_pipelines(specs, pipeline)
    stores = sorted({store_of(p) for p in chosen})
    held: set[str] = set().union(*(held_connections(project, {p.connection}, store_dsn(project, store_of(p)))
                                   for p in chosen))
    runs: list[dict[str, Any]] = []
    for store in stores:
        path = project.store_path(store)
        if not store_exists(path):
            continue
        with open_store(path, read_only=True) as con:
            for name in [p.name for p in chosen if store_of(p) == store]:
                runs += run_rows(con, pipeline=name, limit=limit, held=held)
    runs.sort(key=lambda r: r["started_at"], reverse=True)
    return RunsResult(runs[:limit])


def store_of(pipeline: Any) -> str:
    from crmsync.store import store_name

    return store_name(pipeline)


def pick_pipelines(specs: Any, name: str | None) -> list[Any]:
    from crmsync.errors import UserError
    from crmsync.specs.problems import did_you_mean

    names = sorted(specs.pipelines)
    if name is None:
        return [specs.pipelines[n] for n in names]
    if name not in specs.pipelines:
        raise UserError(f"no pipeline {name!r}{did_you_mean(name, names)}; known: {', '.join(names) or 'none'}")
    return [specs.pipelines[name]]
