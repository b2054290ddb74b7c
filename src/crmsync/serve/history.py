"""The skipped runs the server records in ``sync.runs`` (the history itself is crmsync.run_history's)."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from typing import Any

from crmsync.project import Project


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
