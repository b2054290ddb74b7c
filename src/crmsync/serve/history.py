"""Run history in ``sync.runs``: what the API and the page list, and the skipped runs the server records."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from typing import Any

from crmsync.project import Project

COLUMNS = ("run_id", "pipeline", "connection", "kind", "started_at", "finished_at", "status", "counts", "error")


def record_skipped(project: Project, jobs: list[Any]) -> None:
    """One ``sync.runs`` row per skipped run (status ``skipped``, the reason in ``error``). Written when the
    connection's run in flight has ended, so the server never waits on the store while a child holds it."""
    if not jobs:
        return
    from crmsync.canonical.tables import ensure
    from crmsync.store import open_store

    by_store: dict[str, list[Any]] = {}
    for job in jobs:
        by_store.setdefault(job.store, []).append(job)
    for store, group in by_store.items():
        with contextlib.suppress(Exception), open_store(project.store_path(store)) as con:
            ensure(con, {})
            for job in group:
                when = dt.datetime.fromisoformat(job.created_at)
                con.execute("INSERT INTO sync.runs (run_id, pipeline, connection, kind, started_at, finished_at, "
                            "status, counts, error) VALUES (?, ?, ?, ?, ?, ?, 'skipped', NULL, ?)",
                            [f"{when:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}", job.pipeline, job.connection, job.kind,
                             when, dt.datetime.fromisoformat(job.finished_at or job.created_at), job.error])


def list_runs(project: Project, stores: list[str], *, pipeline: str | None = None, status: str | None = None,
              limit: int = 50) -> dict[str, Any]:
    """The newest runs first, as ``sync.runs`` holds them (counts parsed from JSON)."""
    from crmsync.store import open_store

    rows: list[dict[str, Any]] = []
    for store in stores:
        path = project.store_path(store)
        if not path.exists():
            continue
        with open_store(path, read_only=True) as con:
            exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'sync' "
                                 "AND table_name = 'runs'").fetchone()[0]
            if not exists:
                continue
            where, params = [], []
            if pipeline:
                where.append("pipeline = ?")
                params.append(pipeline)
            if status:
                where.append("status = ?")
                params.append(status)
            sql = (f"SELECT {', '.join(COLUMNS)} FROM sync.runs {'WHERE ' + ' AND '.join(where) if where else ''} "
                   "ORDER BY started_at DESC NULLS LAST LIMIT ?")
            for values in con.execute(sql, [*params, limit]).fetchall():
                row = dict(zip(COLUMNS, values, strict=True))
                for key in ("started_at", "finished_at"):
                    row[key] = row[key].isoformat() if row[key] else None
                row["counts"] = json.loads(row["counts"]) if row["counts"] else None
                row["seconds"] = _seconds(values[4], values[5])
                rows.append(row)
    rows.sort(key=lambda r: r["started_at"] or "", reverse=True)
    return {"runs": rows[:limit]}


def _seconds(started: dt.datetime | None, finished: dt.datetime | None) -> float | None:
    return round((finished - started).total_seconds(), 3) if started and finished else None
